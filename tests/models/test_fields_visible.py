"""Real-field scoring: the visible-part rule for edge-cut glomeruli, and `glomcheck evaluate --fields` reporting both figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from scipy import ndimage
from shapely.geometry import Polygon, box

from tests.conftest import SHARED_DATA
from worker.evaluation.detection import detection_scores
from worker.evaluation.fields import _truth_from_mask, field_split, visible_min_area_px
from worker.pipeline.models import DETECTOR, MODELS_DIR

FIELDS = SHARED_DATA / "fields" / "aidpath-pas"  # found wherever the checkout is; missing data fails, never skips


def _mask(tmp_path: Path) -> Path:
    """1024² red-on-black mask: a whole disc, a large edge-cut region, two edge slivers either side of the threshold."""
    m = np.zeros((1024, 1024, 3), np.uint8)
    yy, xx = np.mgrid[:1024, :1024]
    m[(yy - 500) ** 2 + (xx - 500) ** 2 < 80**2] = (255, 0, 0)  # whole glomerulus, not edge-cut
    m[0:150, 300:450] = (255, 0, 0)  # cut by the top edge, 22 500 px visible
    m[300:400, 0:79] = (255, 0, 0)  # cut by the left edge, 7 900 px ≥ π·50² ≈ 7 854
    m[700:800, 0:78] = (255, 0, 0)  # cut by the left edge, 7 800 px < threshold: sliver
    p = tmp_path / "f.png"
    Image.fromarray(m).save(p)
    return p


def test_min_disc_area() -> None:
    assert visible_min_area_px(50.0, 0.5) == pytest.approx(np.pi * 50**2)
    assert visible_min_area_px(50.0, 0.25) == pytest.approx(np.pi * 100**2)


def test_visible_part_rule_sliver_vs_large_cut_region(tmp_path: Path) -> None:
    p = _mask(tmp_path)
    primary = _truth_from_mask(p)
    visible = _truth_from_mask(p, visible_min_area=visible_min_area_px(50.0, 0.5))
    assert len(primary) == len(visible) == 4

    def by_box(truths: list, b: tuple[float, float, float, float]) -> bool:  # type: ignore[type-arg]
        (t,) = [t for t in truths if t.polygon.centroid.within(box(*b))]
        return bool(t.dont_care)

    whole, big, at_thr, sliver = (400, 400, 600, 600), (300, 0, 450, 150), (0, 300, 79, 400), (0, 700, 78, 800)
    assert [by_box(primary, b) for b in (whole, big, at_thr, sliver)] == [False, True, True, True]
    assert [by_box(visible, b) for b in (whole, big, at_thr, sliver)] == [False, False, False, True]

    # a prediction on the visible part of the large cut region: ignored by the primary scoring, a hit by the visible one
    pred = [Polygon([(302, 0), (448, 0), (448, 146), (302, 146)])]
    s0, s1 = detection_scores(pred, [0.9], primary), detection_scores(pred, [0.9], visible)
    assert (s0["tp"], s0["fp"], s0["fn"]) == (0, 0, 1)
    assert (s1["tp"], s1["fp"], s1["fn"]) == (1, 0, 2)
    # a prediction on the sliver stays don't-care in both
    sl = [Polygon([(0, 700), (78, 700), (78, 800), (0, 800)])]
    assert detection_scores(sl, [0.9], visible)["fp"] == 0


def _independent_counts(split: str) -> tuple[int, int, int]:
    """(regions ≥ 500 px, whole regions, visible-scorable regions) straight from the masks."""
    thr = np.pi * (50.0 / 0.5 / 2) ** 2
    n = whole = vis = 0
    for img in field_split(FIELDS, split):
        m = np.asarray(Image.open(FIELDS / "masks" / img.name).convert("RGB"))
        lab, k = ndimage.label((m[..., 0] > 128) & (m[..., 1] < 128))
        for i in range(1, k + 1):
            ys, xs = np.nonzero(lab == i)
            if ys.size < 500:
                continue
            edge = ys.min() == 0 or xs.min() == 0 or ys.max() == m.shape[0] - 1 or xs.max() == m.shape[1] - 1
            n += 1
            whole += not edge
            vis += (not edge) or ys.size >= thr
    return n, whole, vis


def test_real_fields_region_counts() -> None:
    n, whole, vis = _independent_counts("all")
    assert (n, whole) == (27, 6)  # data README: 27 regions, 21 cut by the edge
    assert whole < vis <= n


@pytest.mark.parametrize("split", ["heldout", "all"])
def test_cli_reports_both_scorings(split: str) -> None:
    from worker.evaluation.cli import evaluate

    res = CliRunner().invoke(evaluate, ["--fields", str(FIELDS), "--split", split])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert any(ln.startswith(f"fields ({split}):") for ln in lines)
    assert any(ln.startswith(f"visible part ({split}):") for ln in lines)
    j = json.loads(lines[-1])
    assert j["task"] == "detection_fields" and j["split"] == split
    for k in ("precision", "recall", "f1", "tp", "fp", "fn", "fields", "detector"):  # the primary keys stay
        assert k in j
    _, whole, vis = _independent_counts(split)
    assert j["scorable"] == j["tp"] + j["fn"] == whole
    assert j["visible_scorable"] == j["visible_tp"] + j["visible_fn"] == vis
    assert j["visible_min_area_px"] == pytest.approx(np.pi * 50**2, abs=0.1)
    p, r = j["visible_precision"], j["visible_recall"]
    assert j["visible_f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-3)

    card = json.loads((MODELS_DIR / DETECTOR / "card.json").read_text())
    if split == "heldout":  # the primary held-out figure is what the card states
        rf = card["metrics"]["real_fields_aidpath_pas"]
        assert (j["tp"], j["fp"], j["fn"], j["f1"]) == (rf["tp"], rf["fp"], rf["fn"], rf["f1"])
    both = card["metrics"].get("real_fields_two_scorings", {}).get(split)
    if both is not None and card["version"] == j["detector"]:  # the card's table is this model's measured output
        for k in ("tp", "fp", "fn", "visible_tp", "visible_fp", "visible_fn", "visible_f1", "visible_scorable"):
            assert both[k] == j[k], k
