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


class TissueNorm(nn.Module):
    """Per-image stain normalisation inside the graph (no learnt parameters).

    The card's normalised input is mapped back to RGB, converted to optical density (OD = -ln RGB) and,
    per image and channel, standardised over tissue pixels (OD summed over channels > `tissue_od`;
    white background is excluded from the statistics). A per-channel gain in OD space (stain intensity,
    section thickness) and a shift of the background therefore cancel out, so the serving pipeline
    needs no stain normalisation of its own.
    """

    def __init__(self, mean: list[float], std: list[float], tissue_od: float = 0.15, mode: str = "standardise") -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.tissue_od = tissue_od
        if mode not in ("standardise", "gain"):
            raise ValueError(mode)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = (x * self.std + self.mean).clamp(1.0 / 255.0, 1.0)
        od = -torch.log(rgb)
        w = (od.sum(1, keepdim=True) > self.tissue_od).float() + 1e-3  # background keeps a tiny weight: no 0/0
        n = w.sum((2, 3), keepdim=True)
        mu = (od * w).sum((2, 3), keepdim=True) / n
        if self.mode == "gain":
            # Stain amount scales OD per channel: dividing by the tissue mean cancels that gain but keeps the
            # image's own contrast (a pale, homogeneous sclerosed tuft stays low-contrast instead of being
            # stretched to unit variance as `standardise` does).
            return od / (mu + 1e-2) - 1.0
        var = (((od - mu) ** 2) * w).sum((2, 3), keepdim=True) / n
        return (od - mu) / torch.sqrt(var + 1e-3)


class GlomNetN(nn.Module):
    """GlomNet preceded by in-graph per-image tissue OD normalisation (TissueNorm, `norm` its mode) and optional input pooling."""

    def __init__(self, n_out: int, mean: list[float], std: list[float],
                 ch: tuple[int, int, int, int] = (16, 32, 64, 96), pool: int = 1, norm: str = "standardise") -> None:
        super().__init__()
        self.norm = TissueNorm(mean, std, mode=norm)
        self.pool = pool
        self.net = GlomNet(n_out, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        if self.pool > 1:  # average-pool the input: the network sees `pool` x the card's µm/px (4x fewer FLOPs for 2)
            x = nn.functional.avg_pool2d(x, self.pool)
        return self.net(x)


# Test-time transform sets by count, as `--tta N` names them: identity, then a flip-transpose (2), the
# four flips (4) or all eight dihedral maps (8); the card's `tta_transforms` is one of these counts.
TTA_TRANSFORMS: dict[int, tuple[int, ...]] = {1: (0,), 2: (0, 3), 4: (0, 1, 2, 3), 8: tuple(range(8))}


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th (0–7) of the 8 flips/rotations of an NCHW batch (ONNX-exportable: transpose + flip)."""
    if k & 4:
        x = x.transpose(2, 3)
    if k & 1:
        x = x.flip(3)
    if k & 2:
        x = x.flip(2)
    return x


class TTAEnsemble(nn.Module):
    """Members' logits averaged over dihedral test-time transforms, then a per-class affine calibration.

    logit = a * mean_{member, transform}(member(transform(x))) + b; with a = 1, b = 0 it is the plain
    average. All in one graph, so the exported ONNX needs nothing extra at serving time.
    """

    def __init__(self, members: list[nn.Module], n_out: int, transforms: tuple[int, ...] = tuple(range(8))) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.transforms = tuple(transforms)
        self.register_buffer("cal_a", torch.ones(n_out))
        self.register_buffer("cal_b", torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        nets = list(self.members)
        if nets and all(isinstance(m, GlomNetN) and m.pool == nets[0].pool for m in nets):
            # the per-image normalisation and the input pooling commute with the dihedral transforms and
            # have no parameters: do them once, before the transforms, instead of per member and transform
            x = nets[0].norm(x)
            if nets[0].pool > 1:
                x = nn.functional.avg_pool2d(x, nets[0].pool)
            nets = [m.net for m in nets]
        xt = torch.cat([dihedral(x, k) for k in self.transforms], 0) if len(self.transforms) > 1 else dihedral(x, self.transforms[0])
        acc = None
        for m in nets:
            y = m(xt)
            acc = y if acc is None else acc + y
        assert acc is not None
        t = len(self.transforms)
        mean = acc.reshape(t, n, -1).mean(0) / len(self.members)
        return mean * self.cal_a + self.cal_b


class GSWithFindings(nn.Module):
    """Global sclerosis from `gs` (column 0 of its logits), the other findings from `rest` (columns 1…)."""

    def __init__(self, gs: nn.Module, rest: nn.Module) -> None:
        super().__init__()
        self.gs = gs
        self.rest = rest

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.gs(x)[:, :1], self.rest(x)[:, 1:]], 1)
