"""Detector recipe: arteriole hard negatives are sampled, and the shipped folder never learns the held-out fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.training.data import read_vessels
from models.training.detector import SHIPPED_DIR, check_fields_split, slide_group


def test_read_vessels_missing_is_empty(tmp_path: Path) -> None:
    gj = tmp_path / "a.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    assert read_vessels(gj).shape == (0, 3)
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [], "properties": {"vessels": [[1, 2, 3]]}}))
    assert read_vessels(gj).tolist() == [[1.0, 2.0, 3.0]]


def test_slide_group(tmp_path: Path) -> None:
    s = tmp_path / "c.svs"
    s.with_suffix(".geojson").write_text(json.dumps({"features": [], "properties": {"stain": "he", "composited": True}}))
    assert slide_group(s) == "he/composited"


def test_shipped_detector_cannot_train_on_heldout_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="held-out"):
        check_fields_split(SHIPPED_DIR, "heldout")
    with pytest.raises(ValueError):
        check_fields_split(tmp_path, "all")
    check_fields_split(tmp_path / "reverse", "heldout")  # the reverse-fold check model may
    check_fields_split(SHIPPED_DIR, "train")


def test_card_records_the_recipe() -> None:
    card = json.loads((SHIPPED_DIR / "card.json").read_text())
    t = card["training"]
    if card["version"] >= "1.2.0":
        assert t["vessel_frac"] > 0 and t["threads"] == 1
        assert t["real_fields"]["split"] == "train"
        assert len(t["train_slides"]) == len(set(t["train_slides"]))
