"""Marker ink: what it does to detection without the ink rule, what the rule finds, and what it takes for
ink on clean tissue.

    python bench/bench_ink.py [--work /tmp/glomcheck-ink] [--seeds 2]

Synthetic: small slides (`glomcheck synth --size small`), seeds 1..N for each of PAS, PAM, MT and H&E,
each analysed clean and with three marks drawn on it (`--ink 3`: a dot, a stroke and a ring of blue,
green or black marker, 0.35–0.8 mm wide, see worker/synth/ink.py). Inked slides are analysed with the
ink rule off and on (`GLOMCHECK_INK_CHECK`). Detection is scored at IoU ≥ 0.5 against the truth, where
glomeruli touched by ink are "don't care" (they may be missed or flagged); "ink FP" are detections
whose centre lies on truth ink. Ink found is compared with the truth ink on the tissue mask's grid.

Real tissue (no ink on it, so everything found is a false alarm): the 24 AIDPATH PAS fields and
CMU-1-Small-Region (H&E), with their own stain and with the stain unknown (the strict rule).
Prints JSON lines and a summary; ends with one JSON line of the headline figures.

    python bench/bench_ink.py --full [--work /tmp/glomcheck-ink]

instead analyses one full-size slide: the pipeline bench's three 1.5 cm PAS cores (seed 1, 134
glomeruli) with five marks (`--ink 5`), where the marks are small beside the tissue as on a real slide.
Making it took 6 min here (level 0, 3 GB, is held in memory while the ink is drawn).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from shapely.geometry import Point, shape

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.config import get_settings
from app.research.geojson import INK_CLASS
from app.slides.reader import SlideReader
from worker.evaluation.detection import detection_scores, load_truth
from worker.pipeline.run import TISSUE_MPP, analyze_slide_file
from worker.pipeline.tissue import compute_tissue_mask

SHARED = Path(os.environ.get("GLOMCHECK_SHARED", REPO.parent / "shared")) / "data"
STAINS = ("pas", "pam", "mt", "he")


def synth(out: Path, seed: int, stain: str, ink: int, *extra: str) -> Path:
    if not out.exists():
        cmd = [str(Path(sys.executable).parent / "glomcheck"), "synth", str(out), "--seed", str(seed), "--stain", stain,
               *extra]
        if ink:
            cmd += ["--ink", str(ink)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return out


def ink_truth(gj: Path) -> list[Any]:
    feats = json.loads(gj.read_text())["features"]
    return [shape(f["geometry"]) for f in feats
            if (f["properties"].get("classification") or {}).get("name") == INK_CLASS["name"]]


def analyse(path: Path, stain: str | None, ink_check: bool) -> dict[str, Any]:
    os.environ["GLOMCHECK_INK_CHECK"] = "1" if ink_check else "0"  # read by get_settings()
    get_settings.cache_clear()
    try:
        with SlideReader(path) as r:
            return analyze_slide_file(r, stain=stain).to_dict()
    finally:
        os.environ.pop("GLOMCHECK_INK_CHECK", None)
        get_settings.cache_clear()


def score(pred: dict[str, Any], truth: Path) -> dict[str, Any]:
    from shapely.geometry import Polygon

    polys = [Polygon(g["polygon_px"]).buffer(0) for g in pred["glomeruli"]]
    s = detection_scores(polys, [g["score"] for g in pred["glomeruli"]], load_truth(truth))
    inks = ink_truth(truth)
    on_ink = sum(1 for g in pred["glomeruli"] if any(i.contains(Point(g["centroid_px"])) for i in inks))
    flagged = sum(1 for g in pred["glomeruli"] if "ink" in g["flags"])
    return {"tp": s["tp"], "fp": s["fp"], "fn": s["fn"], "f1": round(s["f1"], 4), "detections": len(polys),
            "ink_fp": on_ink, "flagged_ink": flagged}


def ink_agreement(path: Path, truth: Path, stain: str | None) -> dict[str, Any]:
    """Ink found vs drawn, on the tissue mask's grid (16 µm/px)."""
    with SlideReader(path) as r:
        tm = compute_tissue_mask(r, mpp0=r.mpp[0], mask_mpp=TISSUE_MPP, ink=True, stain=stain)  # type: ignore[index]
    found = tm.ink if tm.ink is not None else np.zeros(tm.mask.shape, bool)
    img = Image.new("L", (found.shape[1], found.shape[0]), 0)
    d = ImageDraw.Draw(img)
    for g in ink_truth(truth):
        for p in (g.geoms if hasattr(g, "geoms") else [g]):
            d.polygon([(x / tm.downsample, y / tm.downsample) for x, y in p.exterior.coords], fill=255)
            for hole in p.interiors:
                d.polygon([(x / tm.downsample, y / tm.downsample) for x, y in hole.coords], fill=0)
    drawn = np.asarray(img) > 0
    inter = int((found & drawn).sum())
    return {"ink_recall": round(inter / max(1, int(drawn.sum())), 4), "ink_precision": round(inter / max(1, int(found.sum())), 4)}


def real_false_ink() -> list[dict[str, Any]]:
    """Ink found on real tissue that carries none (any pixel is a false alarm)."""
    from worker.pipeline.ink import ink_mask_from_rgb

    rows = []
    fields = sorted((SHARED / "fields" / "aidpath-pas" / "images").glob("*.png"))
    for stain in ("pas", None):
        px = tot = 0
        for f in fields:
            a = np.asarray(Image.open(f).convert("RGB"))
            k = round(TISSUE_MPP / 0.5)
            small = np.asarray(Image.fromarray(a).resize((a.shape[1] // k, a.shape[0] // k), Image.Resampling.BOX))
            px += int(ink_mask_from_rgb(small, mpp=TISSUE_MPP, stain=stain).sum())
            tot += small.shape[0] * small.shape[1]
        rows.append({"data": "AIDPATH PAS fields (24)", "stain": stain, "false_ink_px": px, "px": tot})
    cmu = SHARED / "slides" / "CMU-1-Small-Region.svs"
    for stain in ("he", None):
        with SlideReader(cmu) as r:
            tm = compute_tissue_mask(r, mpp0=r.mpp[0], mask_mpp=TISSUE_MPP, ink=True, stain=stain)  # type: ignore[index]
        rows.append({"data": "CMU-1-Small-Region (H&E)", "stain": stain, "false_ink_px": tm.ink_px, "px": tm.mask.size})
    return rows


def full_slide(work: Path) -> None:
    """The full-size bench slide with five marks: rule off, on, and on with the stain unknown."""
    path = synth(work / "full-ink.tiff", 1, "pas", 5, "--sections", "3", "--size", "full")
    truth = path.with_suffix(".geojson")
    runs = {}
    for key, stain, on in (("ink_off", "pas", False), ("ink_on", "pas", True), ("ink_on_unknown_stain", None, True)):
        res = analyse(path, stain, on)
        runs[key] = {**score(res, truth), "ink_mm2": res["stats"]["ink_area_mm2"]}
        print(json.dumps({"run": key, **runs[key]}), flush=True)
    agree = ink_agreement(path, truth, "pas")
    print(json.dumps({"bench": "ink_full", **{f"f1_{k}": v["f1"] for k, v in runs.items()},
                      **{f"{k}_on_ink": v["ink_fp"] for k, v in runs.items()}, **agree}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/glomcheck-ink"))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="Only the full-size slide with five marks.")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.full:
        full_slide(args.work)
        return
    rows: list[dict[str, Any]] = []
    for stain in STAINS:
        for seed in range(1, args.seeds + 1):
            clean = synth(args.work / f"{stain}-{seed}.tiff", seed, stain, 0)
            inked = synth(args.work / f"{stain}-{seed}-ink.tiff", seed, stain, 3)
            c = analyse(clean, stain, True)
            row = {"stain": stain, "seed": seed,
                   "clean": {**score(c, clean.with_suffix(".geojson")), "ink_mm2": c["stats"]["ink_area_mm2"]},
                   "ink_off": score(analyse(inked, stain, False), inked.with_suffix(".geojson")),
                   "ink_on": score(analyse(inked, stain, True), inked.with_suffix(".geojson")),
                   "ink_on_unknown_stain": score(analyse(inked, None, True), inked.with_suffix(".geojson")),
                   **ink_agreement(inked, inked.with_suffix(".geojson"), stain)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    real = real_false_ink()
    for r in real:
        print(json.dumps(r), flush=True)

    def total(key: str, f: str) -> int:
        return sum(int(r[key][f]) for r in rows)

    def f1(key: str) -> float:
        tp, fp, fn = total(key, "tp"), total(key, "fp"), total(key, "fn")
        return round(2 * tp / max(1, 2 * tp + fp + fn), 4)

    print(f"\n{'':24s} {'TP':>4s} {'FP':>4s} {'FN':>4s} {'F1':>7s} {'on ink':>7s} {'flag ink':>8s}")
    for key, label in (("clean", "clean slides"), ("ink_off", "inked, rule off"), ("ink_on", "inked, rule on"),
                       ("ink_on_unknown_stain", "inked, stain unknown")):
        print(f"{label:24s} {total(key, 'tp'):4d} {total(key, 'fp'):4d} {total(key, 'fn'):4d} {f1(key):7.4f} "
              f"{total(key, 'ink_fp'):7d} {total(key, 'flagged_ink'):8d}")
    print("ink found on clean synthetic slides (mm²):", [r["clean"]["ink_mm2"] for r in rows])
    print("ink recall / precision per inked slide:", [(r["ink_recall"], r["ink_precision"]) for r in rows])
    head = {"bench": "ink", "slides": len(rows), "f1_clean": f1("clean"), "f1_ink_off": f1("ink_off"),
            "f1_ink_on": f1("ink_on"), "f1_ink_on_unknown_stain": f1("ink_on_unknown_stain"),
            "ink_fp_off": sum(r["ink_off"]["ink_fp"] for r in rows), "ink_fp_on": sum(r["ink_on"]["ink_fp"] for r in rows),
            "false_ink_clean_mm2": round(sum(r["clean"]["ink_mm2"] or 0 for r in rows), 3),
            "ink_recall_median": float(np.median([r["ink_recall"] for r in rows])),
            "ink_precision_median": float(np.median([r["ink_precision"] for r in rows])),
            "real_false_ink_px": sum(r["false_ink_px"] for r in real)}
    print(json.dumps(head))


if __name__ == "__main__":
    main()
