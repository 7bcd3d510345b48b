"""Detector check in real tissue context: the AIDPATH PAS fields (1024² PNG, ~0.5 µm/px, masks).

Glomeruli cut by the field edge are "don't care": matching them neither counts as a hit nor a
false positive, and missing them is not a miss.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from shapely.geometry import Polygon
from skimage.measure import find_contours

from worker.evaluation.detection import Truth, detection_scores
from worker.evaluation.metrics import sigmoid
from worker.pipeline.instances import extract_instances
from worker.pipeline.models import LoadedModel

FIELD_MPP = 0.5  # µm/px stated by the data README (inferred from the 20× scanner, not in the files)
SPLITS = ("all", "train", "heldout")


def field_split(root: Path, split: str = "all") -> list[Path]:
    """Field images of one fixed, deterministic half of a fields folder.

    Names are sorted; the first half ("train") may be used to train the detector, the second half
    ("heldout") never is. Contiguous halves rather than even/odd: consecutive AIDPATH tile numbers
    are neighbouring tiles that share glomeruli cut by their common edge, so even/odd would put the
    two halves of one glomerulus on both sides of the split. For aidpath-pas (24 fields):
    train = 10003 … 10165, heldout = 10169 … 10224.
    """
    names = sorted((root / "images").glob("*.png"))
    half = (len(names) + 1) // 2
    if split == "all":
        return names
    if split == "train":
        return names[:half]
    if split == "heldout":
        return names[half:]
    raise ValueError(f"split must be one of {SPLITS}, not {split!r}")


def _truth_from_mask(mask_path: Path, min_area: int = 500) -> list[Truth]:
    m = np.asarray(Image.open(mask_path).convert("RGB"))
    fg = (m[..., 0] > 128) & (m[..., 1] < 128)
    lab, n = ndimage.label(fg)
    out = []
    for i in range(1, n + 1):
        comp = lab == i
        if comp.sum() < min_area:
            continue
        ys, xs = np.nonzero(comp)
        edge = ys.min() == 0 or xs.min() == 0 or ys.max() == fg.shape[0] - 1 or xs.max() == fg.shape[1] - 1
        cs = find_contours(np.pad(comp.astype(np.float32), 1), 0.5)
        c = max(cs, key=len)
        poly = Polygon(np.stack([c[:, 1] - 1, c[:, 0] - 1], axis=1)).buffer(0)
        out.append(Truth(poly, {}, dont_care=bool(edge)))
    return out


def evaluate_fields(root: Path, det: LoadedModel, *, field_mpp: float = FIELD_MPP, split: str = "all") -> dict[str, Any]:
    """Run the detector on every field of `split` (see `field_split`) and score it; polygons compared in field pixels."""
    mpp = float(det.card["input"]["mpp"])
    ostride = int(det.card["output"]["stride"])
    pp = det.card.get("postprocess", {})
    per: list[dict[str, Any]] = []
    tot = {"tp": 0, "fp": 0, "fn": 0, "duplicates": 0, "dont_care": 0}
    for img_path in field_split(root, split):
        img = Image.open(img_path).convert("RGB")
        n = round(img.width * field_mpp / mpp)
        n16 = max(16, n // 16 * 16)
        arr = np.asarray(img.resize((n16, n16), Image.Resampling.BILINEAR))
        prob = sigmoid(det.run(arr[None])[0, 0])
        map_mpp = mpp * ostride * n / n16
        insts = extract_instances(prob, map_mpp=map_mpp, threshold=float(pp.get("threshold", 0.5)),
                                  min_diameter_um=float(pp.get("min_diameter_um", 50.0)),
                                  split_distance_um=float(pp.get("split_distance_um", 100.0)))
        scale = img.width / prob.shape[1]
        polys = [Polygon(i.polygon * scale).buffer(0) for i in insts]
        truths = _truth_from_mask(root / "masks" / img_path.name)
        s = detection_scores(polys, [i.score for i in insts], truths)
        s.pop("pairs")
        for k in ("tp", "fp", "fn", "duplicates"):
            tot[k] += int(s[k])
        tot["dont_care"] += sum(t.dont_care for t in truths)
        per.append({"field": img_path.name, **{k: s[k] for k in ("tp", "fp", "fn", "n_truth", "n_pred")}})
    prec = tot["tp"] / (tot["tp"] + tot["fp"]) if tot["tp"] + tot["fp"] else 0.0
    rec = tot["tp"] / (tot["tp"] + tot["fn"]) if tot["tp"] + tot["fn"] else 0.0
    f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"fields": len(per), **tot, "precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f, 4),
            "field_mpp_assumed": field_mpp, "split": split, "per_field": per}


def dumps_line(d: dict[str, Any]) -> str:
    return json.dumps(d, separators=(",", ":"))
