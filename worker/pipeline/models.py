"""Load shipped ONNX models through their card: verify the SHA-256, read the IO contract, build a session.

Serving code never imports torch; everything a model needs at inference (µm/px, tile size, stride,
normalisation, classes, thresholds) is read from `card.json` beside `model.onnx`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from app.config import MODELS_DIR as MODELS_DIR  # re-exported for the CLIs and tests

DETECTOR = "glom_detector"
CLASSIFIER = "glom_classifier"


class ModelIntegrityError(RuntimeError):
    """The ONNX file does not match the SHA-256 its card declares (or the card is missing/invalid)."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class LoadedModel:
    """An onnxruntime session plus the card that describes its IO contract."""

    name: str
    card: dict[str, Any]
    session: Any
    providers: list[str]
    input_name: str = field(init=False)

    def __post_init__(self) -> None:
        self.input_name = self.session.get_inputs()[0].name

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def input_mpp(self) -> float:
        """µm/px the model expects."""
        return float(self.card["input"]["mpp"])

    def normalise(self, batch_nhwc: NDArray[np.uint8]) -> NDArray[np.float32]:
        """uint8 NHWC RGB → float32 NCHW normalised as the card says ((x/255 - mean) / std).

        Computed as one fused x·scale − offset per channel written straight into the NCHW array:
        the textbook four passes (cast, /255, −mean, /std, transpose) cost ~15× more and were a
        tenth of the detector's time. For the shipped constants (mean 0.5, std 0.25) both give
        bit-identical values for all 256 inputs (tested).
        """
        scale, offset = self._norm
        n, h, w, c = batch_nhwc.shape
        out = np.empty((n, c, h, w), np.float32)
        np.multiply(batch_nhwc.transpose(0, 3, 1, 2), scale, out=out, casting="unsafe")
        out -= offset
        return out

    @cached_property
    def _norm(self) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        norm = self.card["input"]["normalisation"]
        mean = np.asarray(norm["mean"], np.float64)
        std = np.asarray(norm["std"], np.float64)
        return ((1.0 / (255.0 * std)).astype(np.float32)[None, :, None, None],
                (mean / std).astype(np.float32)[None, :, None, None])

    def run(self, batch_nhwc: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Raw model output (logits) for a uint8 NHWC batch."""
        out = self.session.run(None, {self.input_name: self.normalise(batch_nhwc)})[0]
        return np.asarray(out, np.float32)

    def describe(self) -> dict[str, Any]:
        """Name, version, hash and providers, as stored with each analysis."""
        return {"name": self.name, "version": self.version, "task": self.card.get("task"),
                "sha256": self.card["sha256"], "providers": self.providers}


def choose_providers(requested: list[str] | None = None) -> list[str]:
    """ORT providers: "auto" = CUDA when onnxruntime offers it, else CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    req = requested or ["auto"]
    if req == ["auto"]:
        return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    chosen = [p for p in req if p in available]
    if not chosen:
        raise RuntimeError(f"none of the requested ONNX providers {req} is available (have {available})")
    return chosen


def read_card(model_dir: Path) -> dict[str, Any]:
    """Parse and minimally validate `card.json`."""
    card_path = model_dir / "card.json"
    if not card_path.exists():
        raise ModelIntegrityError(f"model card missing: {card_path}")
    card: dict[str, Any] = json.loads(card_path.read_text())
    for key in ("task", "version", "input", "classes", "sha256"):
        if key not in card:
            raise ModelIntegrityError(f"model card {card_path} lacks '{key}'")
    return card


def load_model(
    name: str,
    *,
    models_dir: Path | None = None,
    providers: list[str] | None = None,
    threads: int | None = None,
) -> LoadedModel:
    """Verify and load `models/<name>/model.onnx`.

    Args:
        name: model folder name (e.g. "glom_detector").
        models_dir: where model folders live (default: the repository's `models/`).
        providers: ORT providers or ["auto"]; default from settings `onnx_providers`.
        threads: intra-op threads; 0/None = settings `onnx_threads`, else all cores.

    Raises:
        ModelIntegrityError: the card is missing/invalid or the file's SHA-256 differs from the card.
    """
    import onnxruntime as ort

    from app.config import get_settings

    model_dir = (models_dir or MODELS_DIR) / name
    card = read_card(model_dir)
    onnx_path = model_dir / card.get("file", "model.onnx")
    if not onnx_path.exists():
        raise ModelIntegrityError(f"model file missing: {onnx_path}")
    actual = sha256_file(onnx_path)
    if actual != card["sha256"]:
        raise ModelIntegrityError(
            f"refusing to load {onnx_path}: its SHA-256 is {actual} but the model card declares "
            f"{card['sha256']}. The file was changed or corrupted; restore it or retrain and re-export."
        )
    settings = get_settings()
    provs = choose_providers(providers or list(settings.onnx_providers))
    opts = ort.SessionOptions()
    n = threads or settings.onnx_threads or (os.cpu_count() or 1)
    opts.intra_op_num_threads = int(n)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The pipeline reads tiles on another thread while ORT computes: spinning ORT workers would steal
    # the core that the reader (JPEG decoding) needs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=provs)
    return LoadedModel(name=name, card=card, session=sess, providers=sess.get_providers())
