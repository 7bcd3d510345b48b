"""Detection scoring: greedy IoU matching of predicted and true polygons, duplicates, per-finding metrics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

from worker.evaluation.metrics import auc, balanced_accuracy, f1


@dataclass
class Truth:
    """A true glomerulus: polygon (level-0 px), labels (None = unknown), don't-care flag."""

    polygon: Polygon
    labels: dict[str, int | None]
    dont_care: bool = False


def is_glomerulus(props: dict[str, Any]) -> bool:
    """A QuPath feature is a glomerulus unless its classification says otherwise (an unclassified
    feature is taken for one): "Ignore*" regions, tissue outlines, marker ink and the like are not."""
    name = str((props.get("classification") or {}).get("name", "Glomerulus")).lower()
    return "glom" in name or "sclero" in name


def load_truth(path: Path) -> list[Truth]:
    """Truth glomeruli from a QuPath-style GeoJSON (ours or a hospital's); other classes are skipped."""
    data = json.loads(path.read_text())
    feats = data["features"] if isinstance(data, dict) else data
    out = []
    for f in feats:
        g = f.get("geometry") or {}
        if g.get("type") != "Polygon":
            continue
        props = f.get("properties") or {}
        if not is_glomerulus(props):
            continue
        labels = props.get("findings") or props.get("measurements") or {}
        out.append(Truth(Polygon(g["coordinates"][0]).buffer(0), {k: (None if v is None else int(float(v) >= 0.5))
                                                                   for k, v in labels.items()},
                         bool(props.get("dont_care", False))))
    return out


def match(preds: list[Polygon], scores: list[float], truths: list[Polygon], iou_min: float = 0.5) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matching by descending score; returns (pred index, truth index, IoU)."""
    pairs: list[tuple[int, int, float]] = []
    used: set[int] = set()
    for pi in np.argsort(-np.asarray(scores, np.float64)) if preds else []:
        p = preds[int(pi)]
        best, best_iou = -1, iou_min
        for ti, t in enumerate(truths):
            if ti in used or not p.intersects(t):
                continue
            inter = p.intersection(t).area
            iou = inter / (p.area + t.area - inter) if inter > 0 else 0.0
            if iou >= best_iou:
                best, best_iou = ti, iou
        if best >= 0:
            used.add(best)
            pairs.append((int(pi), best, float(best_iou)))
    return pairs


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from counts (0 where undefined), rounded to 4 places as every report prints them."""
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f, 4)}


def detection_scores(preds: list[Polygon], scores: list[float], truths: list[Truth], iou_min: float = 0.5) -> dict[str, Any]:
    """Precision, recall, F1 at IoU ≥ `iou_min`; don't-care truths neither reward nor penalise.

    A duplicate is an unmatched prediction whose area lies mostly (> 50 %) inside an already
    matched truth: the signature of a glomerulus split or repeated across tile borders.
    """
    tpolys = [t.polygon for t in truths]
    pairs = match(preds, scores, tpolys, iou_min)
    matched_p = {p for p, _, _ in pairs}
    matched_t = {t for _, t, _ in pairs}
    tp = sum(1 for _, t, _ in pairs if not truths[t].dont_care)
    fp = 0
    dup = 0
    for i, p in enumerate(preds):
        if i in matched_p:
            continue
        inside = [t for t in range(len(truths)) if p.intersects(tpolys[t]) and p.intersection(tpolys[t]).area > 0.5 * p.area]
        if any(truths[t].dont_care for t in inside):
            continue
        if any(t in matched_t for t in inside):
            dup += 1
        fp += 1
    fn = sum(1 for t in range(len(truths)) if t not in matched_t and not truths[t].dont_care)
    ious = [iou for _, t, iou in pairs if not truths[t].dont_care]
    return {"tp": tp, "fp": fp, "fn": fn, "duplicates": dup, **prf(tp, fp, fn),
            "mean_iou": round(float(np.mean(ious)), 4) if ious else None,
            "n_truth": sum(1 for t in truths if not t.dont_care), "n_pred": len(preds), "pairs": pairs}


def finding_scores(pairs: list[tuple[int, int, float]], pred_findings: list[dict[str, float]], truths: list[Truth],
                   thresholds: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Per-finding AUC, F1 and balanced accuracy (present = p ≥ t_hi, else 0.5) over matched glomeruli with known labels."""
    keys = sorted({k for t in truths for k, v in t.labels.items() if v is not None})
    out: dict[str, Any] = {}
    for k in keys:
        ys, ps = [], []
        for pi, ti, _ in pairs:
            v = truths[ti].labels.get(k)
            if v is None or k not in pred_findings[pi]:
                continue
            ys.append(v)
            ps.append(pred_findings[pi][k])
        if not ys:
            continue
        y: NDArray[np.float64] = np.asarray(ys, np.float64)
        p: NDArray[np.float64] = np.asarray(ps, np.float64)
        t_hi = float((thresholds or {}).get(k, {}).get("t_hi", 0.5))
        a = auc(y, p)
        ff = f1(y, p >= t_hi)
        ba = balanced_accuracy(y, p >= t_hi)  # what the card's validation figure is, so the two compare
        out[k] = {"n": len(ys), "n_pos": int(y.sum()), "auc": None if a is None else round(a, 4),
                  "f1": None if ff is None else round(ff, 4),
                  "balanced_accuracy": None if ba is None else round(ba, 4), "t_hi": t_hi}
    return out


def evaluate_prediction(pred: dict[str, Any], truth_path: Path, *, thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score an `analyze --json` result against a truth GeoJSON."""
    return evaluate_predictions([(pred, truth_path)], thresholds=thresholds)


def evaluate_predictions(items: list[tuple[dict[str, Any], Path]], *,
                         thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score several slides' `analyze --json` results against their truths, pooled.

    Why pooled rather than averaged: a finding may have a handful of positives per slide, so per-slide
    AUCs are noisy or undefined; detection counts and matched glomeruli are summed over slides instead
    (matching is still done slide by slide).
    """
    counts = {"tp": 0, "fp": 0, "fn": 0, "duplicates": 0, "n_truth": 0, "n_pred": 0}
    ious: list[float] = []
    pairs: list[tuple[int, int, float]] = []
    findings: list[dict[str, float]] = []
    truths: list[Truth] = []
    for pred, truth_path in items:
        t = load_truth(truth_path)
        gl = pred["glomeruli"]
        det = detection_scores([Polygon(g["polygon_px"]).buffer(0) for g in gl], [g["score"] for g in gl], t)
        for k in counts:
            counts[k] += det[k]
        ious += [iou for _, ti, iou in det["pairs"] if not t[ti].dont_care]
        pairs += [(pi + len(findings), ti + len(truths), iou) for pi, ti, iou in det["pairs"]]
        findings += [g["findings"] for g in gl]
        truths += t
    detection = {**counts, **prf(counts["tp"], counts["fp"], counts["fn"]),
                 "mean_iou": round(float(np.mean(ious)), 4) if ious else None, "slides": len(items)}
    return {"detection": detection, "findings": finding_scores(pairs, findings, truths, thresholds)}
