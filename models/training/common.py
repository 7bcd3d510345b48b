"""Shared training helpers: augmentation, ONNX export, torch↔ORT agreement check, card writing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

MEAN = [0.5, 0.5, 0.5]
STD = [0.25, 0.25, 0.25]


def setup_torch(threads: int = 2, seed: int = 0) -> None:
    """Bound CPU use (the machine is shared) and seed everything."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)


def to_tensor(batch_nhwc: NDArray[np.uint8]) -> torch.Tensor:
    """uint8 NHWC → normalised float NCHW, exactly as the serving code does from the card."""
    x = torch.from_numpy(np.ascontiguousarray(batch_nhwc)).float().div_(255.0)
    x = (x - torch.tensor(MEAN)) / torch.tensor(STD)
    return x.permute(0, 3, 1, 2).contiguous()


def augment(x: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator, *, stain: bool = True,
            strong: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Dihedral flips/rotations and stain augmentation on a normalised batch.

    Stain augmentation perturbs optical density per channel (gain 0.7–1.3 with channel mixing)
    plus brightness, so thresholds transfer across labs and stains. `strong` adds, per image, a
    scanner white-balance shift (RGB gain 0.88–1.12), contrast 0.75–1.25, gamma 0.8–1.25 and
    saturation 0.6–1.4 (colour jitter for transfer across centres; geometry untouched).
    """
    if torch.rand(1, generator=gen).item() < 0.5:
        x = torch.flip(x, [3])
        y = torch.flip(y, [-1]) if y is not None else None
    if torch.rand(1, generator=gen).item() < 0.5:
        x = torch.flip(x, [2])
        y = torch.flip(y, [-2]) if y is not None else None
    k = int(torch.randint(0, 4, (1,), generator=gen).item())
    if k:
        x = torch.rot90(x, k, [2, 3])
        y = torch.rot90(y, k, [-2, -1]) if y is not None else None
    if stain:
        n = x.shape[0]
        rgb = (x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)).clamp(1 / 255, 1)
        od = -torch.log(rgb)
        mix = torch.eye(3).expand(n, 3, 3) + 0.12 * torch.randn(n, 3, 3, generator=gen)
        gain = 0.7 + 0.6 * torch.rand(n, 3, 1, generator=gen)
        od = torch.einsum("nij,njhw->nihw", mix * gain, od).clamp(min=0)
        rgb = torch.exp(-od) * (0.9 + 0.2 * torch.rand(n, 1, 1, 1, generator=gen))
        if strong:
            rgb = rgb * (0.88 + 0.24 * torch.rand(n, 3, 1, 1, generator=gen))
            m = rgb.mean(dim=(1, 2, 3), keepdim=True)
            rgb = (rgb - m) * (0.75 + 0.5 * torch.rand(n, 1, 1, 1, generator=gen)) + m
            rgb = rgb.clamp(0, 1) ** torch.exp(torch.empty(n, 1, 1, 1).uniform_(-0.223, 0.223, generator=gen))
            grey = rgb.mean(dim=1, keepdim=True)
            rgb = grey + (rgb - grey) * (0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=gen))
        rgb = rgb + 0.02 * torch.randn(rgb.shape, generator=gen)
        x = (rgb.clamp(0, 1) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    return x.contiguous(), (y.contiguous() if y is not None else None)


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path, *, spatial_dynamic: bool) -> None:
    """Export an eval-mode model to ONNX (opset 17; batch, and optionally H/W, dynamic)."""
    model.eval()
    axes: dict[int, str] = {0: "batch"}
    if spatial_dynamic:
        axes.update({2: "height", 3: "width"})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model, (example,), str(path), input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": axes, "logits": {0: "batch", **({2: "oh", 3: "ow"} if spatial_dynamic else {})}},
        opset_version=17, dynamo=False,
    )


def torch_ort_max_diff(model: torch.nn.Module, onnx_path: Path, example: torch.Tensor) -> float:
    """Largest absolute difference between torch and onnxruntime outputs on `example`."""
    import onnxruntime as ort

    model.eval()
    with torch.no_grad():
        ref = model(example).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": example.numpy()})[0]
    return float(np.abs(out - ref).max())


def write_card(model_dir: Path, card: dict[str, Any]) -> None:
    """Write card.json with the ONNX file's SHA-256 and size."""
    from worker.pipeline.models import sha256_file

    onnx = model_dir / "model.onnx"
    card = dict(card)
    inp = card.get("input", {})
    # flat copies of the IO contract for readers that do not walk the nested "input" block
    card["input_mpp"] = inp.get("mpp")
    card["tile_size"] = inp.get("tile")
    card["crop_size"] = inp.get("crop")
    card["stride"] = inp.get("stride")
    card["normalisation"] = inp.get("normalisation")
    card["file"] = "model.onnx"
    card["sha256"] = sha256_file(onnx)
    card["size_bytes"] = onnx.stat().st_size
    card.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    (model_dir / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


# Ruifrok & Johnston haematoxylin/eosin/DAB optical-density vectors (rows), as in skimage.color.rgb2hed
_HED_FROM_RGB_INV = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])


def hed_jitter(x: torch.Tensor, gen: torch.Generator, *, sigma: float = 0.15, bias: float = 0.05) -> torch.Tensor:
    """HED-space stain jitter (Tellez et al. 2018) on a normalised NCHW batch; a new function, `augment` is unchanged.

    Each image's optical density is unmixed into haematoxylin/eosin/residual concentrations, each scaled by
    U(1 - sigma, 1 + sigma) and shifted by U(-bias, bias), then mixed back.
    """
    n = x.shape[0]
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    rgb = (x * std + mean).clamp(1 / 255, 1)
    od = -torch.log(rgb)
    m = _HED_FROM_RGB_INV / _HED_FROM_RGB_INV.norm(dim=1, keepdim=True)  # stain vectors (3, 3), rows
    minv = torch.linalg.inv(m)
    c = torch.einsum("nchw,cs->nshw", od, minv)
    a = 1 + sigma * (2 * torch.rand(n, 3, 1, 1, generator=gen) - 1)
    b = bias * (2 * torch.rand(n, 3, 1, 1, generator=gen) - 1)
    c = c * a + b * (od.sum(1, keepdim=True) > 0.15).float()  # shift tissue only; background stays white
    od2 = torch.einsum("nshw,sc->nchw", c, m).clamp(min=0)
    return ((torch.exp(-od2).clamp(0, 1) - mean) / std).contiguous()
