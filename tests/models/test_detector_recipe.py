"""Detector recipe: arteriole hard negatives are sampled, and the shipped folder never learns the held-out fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.training.data import read_vessels
from models.training.detector import SHIPPED_DIR, check_fields_split, slide_group
from tests.conftest import SHARED_DATA


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


FIELDS = SHARED_DATA / "fields" / "aidpath-pas"  # found wherever the checkout is; missing data fails, never skips


def test_edge_cut_visible_trains_on_cut_glomeruli_with_the_same_patches() -> None:
    """--edge-cut visible only changes the loss weights: same patches and targets, no weight-0 pixel left."""
    import numpy as np

    from models.training.data import field_patches

    imgs = [FIELDS / "images" / n for n in ("10003.png", "10014.png")]  # both hold glomeruli cut by the field edge

    def run(mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return field_patches(imgs, FIELDS / "masks", field_mpp=0.5, mpp=2.0, patch=192, out_stride=2, per_field=8,
                             rng=np.random.default_rng(0), edge_cut=mode)

    x0, y0, w0 = run("dont_care")
    x1, y1, w1 = run("visible")
    assert np.array_equal(x0, x1) and np.array_equal(y0, y1)
    assert w1.min() == 1
    assert y0.sum() > 0 and (w0[y0 > 0] == 0).mean() > 0.9  # v1.2.0: the cut glomeruli's pixels are masked out
    with pytest.raises(ValueError):
        run("ring")


def _figs(vis_f1: float, f1: float, groups: dict[str, float], dup: int = 0) -> dict:  # type: ignore[type-arg]
    g = {k: {"f1": v} for k, v in groups.items()}
    return {"fields_heldout": {"visible_f1": vis_f1, "f1": f1}, "synthetic_by_stain_and_kind": {**g, "all": {"f1": 0.99}},
            "synthetic_all": {"duplicates": dup}}


def test_trial_rule_needs_all_three_criteria() -> None:
    """Pre-registered T1 rule (TRIALS.md): visible F1 strictly up, primary F1 not down, synthetic groups ≥ 0.95, 0 dups."""
    from models.training.report import trial_decision

    shipped = _figs(0.5455, 0.6667, {"he/composited": 0.9538})
    ok = {"he/composited": 0.96, "pas/drawn": 1.0}
    assert trial_decision(shipped, _figs(0.6, 0.6667, ok))["adopt"]
    assert not trial_decision(shipped, _figs(0.5455, 0.8, ok))["adopt"]  # (a) equal is not higher
    assert not trial_decision(shipped, _figs(0.7, 0.5, ok))["adopt"]  # (b) primary worse
    assert not trial_decision(shipped, _figs(0.7, 0.8, {**ok, "mt/drawn": 0.949}))["adopt"]  # (c) one group below
    assert not trial_decision(shipped, _figs(0.7, 0.8, ok, dup=1))["adopt"]  # (c) a duplicate


def _seed(stitched: float, visible: float, groups: dict[str, float] | None = None, dup: int = 0) -> dict:  # type: ignore[type-arg]
    f = _figs(visible, 0.5, groups or {"he/composited": 0.96})
    f["stitched_heldout"] = {"f1": stitched}
    f["synthetic_all"]["duplicates"] = dup
    return f


def test_t2_rule_means_over_seeds() -> None:
    """Pre-registered T2 rule: 2-seed mean stitched F1 up by ≥ 0.10, mean visible F1 not lower, shipped seed synthetic ok."""
    from models.training.report import seed_arms_decision

    ctrl = [_seed(0.5, 0.5), _seed(0.6, 0.4)]  # means 0.55 / 0.45
    good = [_seed(0.7, 0.5), _seed(0.6, 0.4)]  # 0.65 = 0.55 + 0.10 exactly: enough
    d = seed_arms_decision(ctrl, good, good[0])
    assert d["adopt"] and d["means"]["candidate"]["stitched_f1"] == 0.65 and d["means"]["control"]["visible_f1"] == 0.45
    # one excellent seed does not carry a bad one past the mean
    assert not seed_arms_decision(ctrl, [_seed(0.9, 0.5), _seed(0.3, 0.4)], _seed(0.9, 0.5))["adopt"]
    assert not seed_arms_decision(ctrl, [_seed(0.7, 0.5), _seed(0.6, 0.3)], good[0])["adopt"]  # (b) visible lower
    assert not seed_arms_decision(ctrl, good, _seed(0.7, 0.5, {"he/composited": 0.949}))["adopt"]  # (c)
    assert not seed_arms_decision(ctrl, good, _seed(0.7, 0.5, dup=1))["adopt"]  # (c) a duplicate
