"""Small from-scratch networks: a tiny U-Net detector and a small multi-label CNN classifier."""

from __future__ import annotations

import torch
from torch import nn


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyUNet(nn.Module):
    """Fully convolutional segmentation net; output logits at 1/2 of the input resolution.

    Input (N, 3, H, W) with H, W multiples of 16; output (N, 1, H/2, W/2).
    """

    def __init__(self, ch: tuple[int, int, int, int] = (8, 16, 32, 64)) -> None:
        super().__init__()
        c0, c1, c2, c3 = ch
        self.e0 = nn.Sequential(_cbr(3, c0, 2), _cbr(c0, c0))
        self.e1 = nn.Sequential(_cbr(c0, c1, 2), _cbr(c1, c1))
        self.e2 = nn.Sequential(_cbr(c1, c2, 2), _cbr(c2, c2))
        self.e3 = nn.Sequential(_cbr(c2, c3, 2), _cbr(c3, c3, dilation=2), _cbr(c3, c3, dilation=4))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.d2 = _cbr(c3 + c2, c2)
        self.d1 = _cbr(c2 + c1, c1)
        self.d0 = _cbr(c1 + c0, c0)
        self.head = nn.Conv2d(c0, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f0 = self.e0(x)
        f1 = self.e1(f0)
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        y = self.d2(torch.cat([self.up(f3), f2], 1))
        y = self.d1(torch.cat([self.up(y), f1], 1))
        y = self.d0(torch.cat([self.up(y), f0], 1))
        return self.head(y)


class GlomNet(nn.Module):
    """Multi-label classifier: one logit per finding (sigmoid applied outside the graph)."""

    def __init__(self, n_out: int, ch: tuple[int, int, int, int] = (16, 32, 64, 96)) -> None:
        super().__init__()
        c0, c1, c2, c3 = ch
        self.features = nn.Sequential(
            _cbr(3, c0, 2), _cbr(c0, c0),
            _cbr(c0, c1, 2), _cbr(c1, c1),
            _cbr(c1, c2, 2), _cbr(c2, c2),
            _cbr(c2, c3, 2), _cbr(c3, c3),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(c3, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(torch.flatten(self.pool(self.features(x)), 1)))
