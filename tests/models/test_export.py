"""torch and onnxruntime agree on the exported graphs (torch is required here: the train extra is installed in CI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch  # no importorskip: a missing torch must fail this test

from models.training.common import export_onnx, to_tensor, torch_ort_max_diff
from models.training.nets import GlomNet, TinyUNet


def _warm_bn(model: torch.nn.Module, x: torch.Tensor) -> None:
    """A few train-mode passes so BatchNorm statistics are not the identity (folding is then tested)."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + 0.3 * torch.randn_like(x))
    model.eval()


def test_detector_export_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TinyUNet()
    x = to_tensor(np.random.default_rng(0).integers(0, 255, (2, 128, 128, 3), dtype=np.uint8))
    _warm_bn(model, x)
    path = tmp_path / "det.onnx"
    export_onnx(model, x, path, spatial_dynamic=True)
    assert torch_ort_max_diff(model, path, x) < 1e-4
    # dynamic spatial size: a larger tile runs and still agrees
    big = to_tensor(np.random.default_rng(1).integers(0, 255, (1, 256, 192, 3), dtype=np.uint8))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": big.numpy()})[0]
    with torch.no_grad():
        ref = model(big).numpy()
    assert out.shape == (1, 1, 128, 96)
    assert np.abs(out - ref).max() < 1e-4


def test_classifier_export_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = GlomNet(9)
    x = to_tensor(np.random.default_rng(2).integers(0, 255, (4, 128, 128, 3), dtype=np.uint8))
    _warm_bn(model, x)
    path = tmp_path / "cls.onnx"
    export_onnx(model, x, path, spatial_dynamic=False)
    assert torch_ort_max_diff(model, path, x) < 1e-4
