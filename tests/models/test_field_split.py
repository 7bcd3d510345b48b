"""The real fields' train/held-out split is fixed, disjoint, and the shipped detector never trained on held-out fields."""

from __future__ import annotations

import json
from pathlib import Path

from worker.evaluation.fields import field_split
from worker.pipeline.models import DETECTOR, MODELS_DIR


def _fields(tmp_path: Path, n: int) -> Path:
    (tmp_path / "images").mkdir()
    for i in range(n):
        (tmp_path / "images" / f"{10000 + 7 * i}.png").write_bytes(b"")
    return tmp_path


def test_split_is_deterministic_contiguous_and_disjoint(tmp_path: Path) -> None:
    root = _fields(tmp_path, 24)
    train, held = field_split(root, "train"), field_split(root, "heldout")
    assert len(train) == len(held) == 12
    assert not {p.name for p in train} & {p.name for p in held}
    assert sorted(train + held) == field_split(root, "all")
    assert max(p.name for p in train) < min(p.name for p in held)


def test_shipped_detector_never_trained_on_heldout_fields() -> None:
    card = json.loads((MODELS_DIR / DETECTOR / "card.json").read_text())
    real = (card.get("training") or {}).get("real_fields")
    rf = card.get("metrics", {}).get("real_fields_aidpath_pas", {})
    if real:
        assert real["split"] == "train"
        assert rf.get("split") == "heldout"
        assert not set(real["fields"]) & set(rf.get("field_names", []))
