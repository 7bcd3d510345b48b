"""Per-finding scores of `glomcheck evaluate`: counted over matched glomeruli only, at the card's t_hi."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from worker.evaluation.detection import Truth, finding_scores


def test_balanced_accuracy_and_f1_at_t_hi_over_matched_glomeruli() -> None:
    # truths 0–3 GS (1, 1, 0, 0) and one with the label unknown; predictions matched one to one, plus truth 5 unmatched
    truths = [Truth(box(i, 0, i + 1, 1), {"global_sclerosis": v}) for i, v in enumerate([1, 1, 0, 0, None, 1])]
    pairs = [(i, i, 0.9) for i in range(5)]
    probs = [0.8, 0.2, 0.6, 0.1, 0.99]  # at t_hi 0.5: tp, fn, fp, tn; the unknown label is not counted
    out = finding_scores(pairs, [{"global_sclerosis": p} for p in probs], truths, {"global_sclerosis": {"t_hi": 0.5}})
    gs = out["global_sclerosis"]
    assert (gs["n"], gs["n_pos"]) == (4, 2)
    assert gs["balanced_accuracy"] == pytest.approx(0.5) and gs["f1"] == pytest.approx(0.5)
    assert gs["auc"] == pytest.approx(0.75)
    # a lower cut turns the missed one into a hit: the figure follows the threshold given
    low = finding_scores(pairs, [{"global_sclerosis": p} for p in probs], truths, {"global_sclerosis": {"t_hi": 0.15}})
    assert low["global_sclerosis"]["balanced_accuracy"] == pytest.approx(0.75)
