"""Torch-free metrics shared by training and evaluation: AUC, balanced accuracy, calibration, thresholds."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


def auc(y: NDArray[np.float64], p: NDArray[np.float64]) -> float | None:
    """ROC AUC by the rank statistic (ties averaged); None when one class is absent."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    pos, neg = int((y == 1).sum()), int((y == 0).sum())
    if pos == 0 or neg == 0:
        return None
    from scipy.stats import rankdata

    r = rankdata(p)
    return float((r[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def confusion(y: NDArray[np.float64], pred: NDArray[np.bool_]) -> dict[str, int]:
    pos = np.asarray(y) == 1
    return {"tp": int((pos & pred).sum()), "fp": int((~pos & pred).sum()), "tn": int((~pos & ~pred).sum()),
            "fn": int((pos & ~pred).sum())}


def balanced_accuracy(y: NDArray[np.float64], pred: NDArray[np.bool_]) -> float | None:
    c = confusion(y, pred)
    if c["tp"] + c["fn"] == 0 or c["tn"] + c["fp"] == 0:
        return None
    return 0.5 * (c["tp"] / (c["tp"] + c["fn"]) + c["tn"] / (c["tn"] + c["fp"]))


def f1(y: NDArray[np.float64], pred: NDArray[np.bool_]) -> float | None:
    c = confusion(y, pred)
    d = 2 * c["tp"] + c["fp"] + c["fn"]
    return None if d == 0 else 2 * c["tp"] / d


def calibration(y: NDArray[np.float64], p: NDArray[np.float64], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error (equal-width bins), Brier score and the reliability table."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    table = []
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        conf, acc = float(p[m].mean()), float(y[m].mean())
        ece += m.mean() * abs(conf - acc)
        table.append({"bin": [round(edges[b], 2), round(edges[b + 1], 2)], "n": int(m.sum()),
                      "mean_p": round(conf, 3), "frac_pos": round(acc, 3)})
    return {"ece": round(float(ece), 4), "brier": round(float(((p - y) ** 2).mean()), 4), "reliability": table}


def choose_thresholds(y: NDArray[np.float64], p: NDArray[np.float64], *, sensitivity: float = 0.95,
                      precision: float = 0.90) -> dict[str, Any]:
    """t_lo: highest threshold keeping `sensitivity` of positives at p ≥ t_lo (so "absent" is safe);
    t_hi: lowest threshold whose calls p ≥ t_hi reach `precision` (so "present" is trustworthy).

    Between them the finding is indeterminate. Without validation positives the defaults are wide.
    """
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    pos = y == 1
    if pos.sum() == 0 or (~pos).sum() == 0:
        return {"t_lo": 0.3, "t_hi": 0.7, "rule": "default: validation lacks positives or negatives"}
    cands = np.unique(np.concatenate([p, [0.0, 1.0]]))
    t_lo = 0.0
    for t in cands:
        if (p[pos] >= t).mean() >= sensitivity:
            t_lo = float(t)
    t_hi = 1.0
    for t in cands[::-1]:
        called = p >= t
        if called.sum() and (y[called] == 1).mean() >= precision:
            t_hi = float(t)
    rule = f"t_lo: sensitivity ≥ {sensitivity}; t_hi: precision ≥ {precision}"
    if t_hi < t_lo:  # the classes separate well: the band collapses to one cut between them
        t_lo = t_hi = round((t_lo + t_hi) / 2, 4)
        rule += " (band collapsed: classes separate)"
    return {"t_lo": round(min(t_lo, 0.999), 4), "t_hi": round(max(t_hi, 0.001), 4), "rule": rule}


def finding_metrics(y: NDArray[np.float64], p: NDArray[np.float64], th: dict[str, Any]) -> dict[str, Any]:
    """AUC, balanced accuracy at 0.5 and at the card decision, indeterminate share, calibration."""
    m = ~np.isnan(y)
    y, p = y[m], p[m]
    out: dict[str, Any] = {"n": len(y), "n_pos": int((y == 1).sum())}
    a = auc(y, p)
    out["auc"] = None if a is None else round(a, 4)
    ba = balanced_accuracy(y, p >= 0.5)
    out["balanced_accuracy_at_0.5"] = None if ba is None else round(ba, 4)
    decided = (p >= th["t_hi"]) | (p < th["t_lo"])
    out["indeterminate_fraction"] = round(float(1 - decided.mean()), 4) if len(p) else None
    if decided.any():
        bd = balanced_accuracy(y[decided], p[decided] >= th["t_hi"])
        out["balanced_accuracy_decided"] = None if bd is None else round(bd, 4)
    out["confusion_at_t_hi"] = confusion(y, p >= th["t_hi"])
    out["calibration"] = calibration(y, p) if len(p) else None
    return out


def sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.asarray(1 / (1 + np.exp(-np.clip(x, -50, 50))), np.float32)


def nan_to_none(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v
