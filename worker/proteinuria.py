"""Serve the 12-month proteinuria outlook from its ONNX file and card (no torch, no training code).

The card is the IO contract: input order and units, interval level, synthetic flag and caveat. The
file is refused unless its SHA-256 matches the card, so a swapped or corrupted model never answers.
Missing inputs are reported, never imputed: a guess would look exactly like a prediction.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "proteinuria"


class ModelUnavailable(RuntimeError):
    """The model files are missing, unreadable or fail the SHA-256 check."""


@dataclass(frozen=True)
class Prediction:
    """Urinary protein 12 months after biopsy, in g/day, with a ``level`` prediction interval."""

    value_g_day: float
    low_g_day: float
    high_g_day: float
    level: float
    warnings: list[str] = field(default_factory=list)


class ProteinuriaModel:
    def __init__(self, model_dir: Path) -> None:
        card_path = model_dir / "card.json"
        try:
            self.card: dict[str, Any] = json.loads(card_path.read_text())
            data = (model_dir / self.card["file"]).read_bytes()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailable(f"proteinuria model not loadable from {model_dir}: {exc}") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.card.get("sha256"):
            raise ModelUnavailable(
                f"proteinuria model {self.card['file']} has sha256 {digest}, the card says {self.card.get('sha256')}")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # a 10-feature linear model: threads only add latency
        self._session = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
        self.inputs: list[dict[str, Any]] = sorted(self.card["inputs"], key=lambda i: int(i["column"]))
        self.input_names = [str(i["name"]) for i in self.inputs]

    @property
    def version(self) -> str:
        return str(self.card["version"])

    @property
    def synthetic(self) -> bool:
        return bool(self.card.get("synthetic_cohort", True))

    def describe(self) -> dict[str, Any]:
        """What a client should show next to a prediction."""
        return {
            "name": self.card["name"], "version": self.version, "sha256": self.card["sha256"],
            "synthetic_cohort": self.synthetic, "interval_level": self.card["interval_level"],
            "cohort": self.card["cohort"]["description"], "metrics_held_out": self.card["metrics_held_out"],
        }

    def missing(self, values: Mapping[str, float | None]) -> list[str]:
        return [n for n in self.input_names if values.get(n) is None or not math.isfinite(float(values[n]))]  # type: ignore[arg-type]

    def predict(self, values: Mapping[str, float | None]) -> Prediction:
        """Predict for one patient; raises ValueError when an input is missing (call ``missing`` first)."""
        gaps = self.missing(values)
        if gaps:
            raise ValueError(f"missing inputs: {', '.join(gaps)}")
        row = np.array([[float(values[n]) for n in self.input_names]], dtype=np.float32)  # type: ignore[arg-type]
        p, lo, hi = self._session.run(["prediction", "low", "high"], {"features": row})
        warnings = [
            f"{i['name']} = {float(values[i['name']]):g} {i['unit']} is outside the training range "  # type: ignore[arg-type]
            f"{i['training_min']:g}–{i['training_max']:g}: extrapolation"
            for i in self.inputs
            if not i["training_min"] <= float(values[i["name"]]) <= i["training_max"]  # type: ignore[arg-type]
        ]
        return Prediction(round(float(p[0, 0]), 3), round(float(lo[0, 0]), 3), round(float(hi[0, 0]), 3),
                          float(self.card["interval_level"]), warnings)


_lock = threading.Lock()
_cache: dict[tuple[str, float, float], ProteinuriaModel] = {}


def load(model_dir: Path | None = None) -> ProteinuriaModel:
    """The model for ``model_dir``, loaded once per process and reloaded when either file changes."""
    d = (model_dir or DEFAULT_MODEL_DIR).resolve()
    try:
        card_mtime = (d / "card.json").stat().st_mtime
        onnx_mtime = max((p.stat().st_mtime for p in d.glob("*.onnx")), default=0.0)
    except OSError as exc:
        raise ModelUnavailable(f"proteinuria model folder {d} is not readable: {exc}") from exc
    key = (str(d), card_mtime, onnx_mtime)
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = ProteinuriaModel(d)
            _cache.clear()  # one model version per process; old sessions are freed
            _cache[key] = model
        return model
