"""Out-of-focus flag: detection and false-flag rates on synthetic and real tissue, and its cost.

    python bench/bench_focus.py [--work /tmp/glomcheck-focus] [--seeds 8] [--timing-slide PATH]

Synthetic: small slides (seeds 1..N, stains cycling PAS/PAM/MT/H&E), half the glomeruli blurred with
a disc PSF of each radius (`worker.synth.defocus`); glomeruli with a blur weight ≥ 0.5 are "blurred",
< 0.1 "sharp", in between are ignored. Real: the AIDPATH PAS fields (0.5 µm/px, written as pyramidal
TIFFs) with their glomerulus boxes sharp, then blurred; CMU-1-Small-Region.svs with 150-µm boxes on a
grid, every other one blurred. Boxes are the truth boxes (the detector is not run): this measures the
focus rule alone. Results go to stdout as JSON lines and a summary table.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

from app.slides.reader import SlideReader
from worker.pipeline.focus import assess_focus, reference_centres
from worker.pipeline.tissue import compute_tissue_mask
from worker.synth.defocus import defocus_slide

SHARED = Path("/work/shared/data")
RADII = (1.0, 2.0, 4.0)
Box = tuple[float, float, float, float]


def run(path: Path, boxes: list[Box]) -> tuple[list[Any], float]:
    with SlideReader(path) as r:
        mpp0 = r.mpp[0]  # type: ignore[index]
        mask = compute_tissue_mask(r, mpp0=mpp0, mask_mpp=16.0)
        t = time.perf_counter()
        res = assess_focus(r, boxes, mpp0=mpp0, tissue_mask=mask)
        return res, time.perf_counter() - t


def truth(gj: Path) -> tuple[list[Box], list[int]]:
    d = json.loads(gj.read_text())
    boxes, labels = [], []
    for f in d["features"]:
        c = np.asarray(f["geometry"]["coordinates"][0])
        boxes.append((float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max())))
        w = f["properties"].get("defocus_weight", 0.0)
        labels.append(1 if w >= 0.5 else (0 if w < 0.1 else -1))
    return boxes, labels


def field_tiff(png: Path, dst: Path, mpp: float = 0.5) -> None:
    """A real field as a 2-level tiled JPEG TIFF with its µm/px, so it is read like a slide."""
    a = np.asarray(Image.open(png).convert("RGB"))
    res = 1e4 / mpp
    with tifffile.TiffWriter(dst) as t:
        for k, sft in ((1, 0), (4, 1)):
            img = a if k == 1 else np.asarray(Image.fromarray(a).resize((a.shape[1] // k, a.shape[0] // k), Image.Resampling.BOX))
            t.write(img, tile=(256, 256), compression="jpeg", compressionargs={"level": 90}, photometric="rgb",
                    resolution=(res / k, res / k), resolutionunit="CENTIMETER", subfiletype=sft, metadata=None)


def tally(rows: list[dict[str, Any]], group: str) -> dict[str, Any]:
    sel = [r for r in rows if r["group"] == group]
    pos = [r for r in sel if r["label"] == 1]
    neg = [r for r in sel if r["label"] == 0]
    return {"group": group, "blurred": len(pos), "detected": sum(r["flag"] for r in pos),
            "sharp": len(neg), "false_flags": sum(r["flag"] for r in neg)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/glomcheck-focus"))
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--timing-slide", type=Path, default=Path("/tmp/glomcheck-bench/full3-seed1.tiff"))
    args = ap.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []

    def add(group: str, res: list[Any], labels: list[int], extra: list[dict[str, Any]] | None = None) -> None:
        for i, (fr, lab) in enumerate(zip(res, labels)):
            rows.append({"group": group, "label": lab, "flag": bool(fr.out_of_focus), "score": round(fr.score, 3),
                         "ratio": round(fr.ratio, 3), "slide_blurred": fr.slide_blurred, **((extra or [{}] * len(res))[i])})

    # synthetic
    from worker.synth import make_slide

    stains = ("pas", "pam", "mt", "he")
    for seed in range(1, args.seeds + 1):
        src = work / f"s{seed}-{stains[(seed - 1) % 4]}.tiff"
        if not src.exists():
            make_slide(src, seed=seed, stain=stains[(seed - 1) % 4])  # type: ignore[arg-type]
        for rad in RADII:
            dst = work / f"{src.stem}-R{rad:g}.tiff"
            if not dst.exists():
                defocus_slide(src, dst, radius_um=rad, fraction=0.5, seed=seed)
            boxes, labels = truth(dst.with_suffix(".geojson"))
            add(f"synth R={rad:g}", run(dst, boxes)[0], labels)
        if seed <= 2:  # blurred everywhere
            for rad in RADII:
                dst = work / f"{src.stem}-all-R{rad:g}.tiff"
                if not dst.exists():
                    defocus_slide(src, dst, radius_um=rad, everywhere=True, seed=seed)
                boxes, _ = truth(dst.with_suffix(".geojson"))
                add(f"synth everywhere R={rad:g}", run(dst, boxes)[0], [1] * len(boxes))

    # real PAS fields
    gt = json.loads((SHARED / "fields/aidpath-pas/gt_boxes.json").read_text())
    for im in gt["images"]:
        if not im["boxes"]:
            continue
        src = work / (Path(im["file"]).stem + ".tiff")
        if not src.exists():
            field_tiff(SHARED / "fields/aidpath-pas" / im["file"], src)
        boxes = [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in im["boxes"]]
        extra = [{"field": src.stem, "edge": bool(e)} for e in im["touches_border"]]
        add("aidpath sharp", run(src, boxes)[0], [0] * len(boxes), extra)
        for rad in (0.5, *RADII):
            dst = work / f"{src.stem}-R{rad:g}.tiff"
            if not dst.exists():
                defocus_slide(src, dst, radius_um=rad, regions_px0=boxes, seed=1)
            add(f"aidpath R={rad:g}", run(dst, boxes)[0], [1] * len(boxes), extra)

    # CMU-1-Small-Region (H&E, 0.499 µm/px): 150-µm boxes 300 µm apart, every other one blurred
    cmu = SHARED / "slides/CMU-1-Small-Region.svs"
    with SlideReader(cmu) as r:
        mpp0 = r.mpp[0]  # type: ignore[index]
        mask = compute_tissue_mask(r, mpp0=mpp0, mask_mpp=16.0)
    half = 75 / mpp0
    cands = reference_centres(mask, [], mpp0=mpp0, n=400)
    centres: list[tuple[float, float]] = []
    for c in cands:
        if all(max(abs(c[0] - o[0]), abs(c[1] - o[1])) * mpp0 >= 300 for o in centres):
            centres.append(c)
    boxes = [(cx - half, cy - half, cx + half, cy + half) for cx, cy in centres]
    add("cmu sharp", run(cmu, boxes)[0], [0] * len(boxes))
    for rad in (0.5, *RADII):
        dst = work / f"cmu-R{rad:g}.svs"
        if not dst.exists():
            defocus_slide(cmu, dst, radius_um=rad, regions_px0=boxes[::2], seed=1)
        add(f"cmu R={rad:g}", run(dst, boxes)[0], [1 - i % 2 for i in range(len(boxes))])
        dst = work / f"cmu-all-R{rad:g}.svs"
        if not dst.exists():
            defocus_slide(cmu, dst, radius_um=rad, everywhere=True, seed=1)
        add(f"cmu everywhere R={rad:g}", run(dst, boxes)[0], [1] * len(boxes))

    for r in rows:
        print(json.dumps(r))
    groups = list(dict.fromkeys(r["group"] for r in rows))
    print("\n| group | blurred: flagged / n | sharp: flagged / n |\n|---|---|---|")
    for g in groups:
        t = tally(rows, g)
        b = f"{t['detected']} / {t['blurred']}" if t["blurred"] else "–"
        s = f"{t['false_flags']} / {t['sharp']}" if t["sharp"] else "–"
        print(f"| {g} | {b} | {s} |")
    edge = [r for r in rows if r["group"] == "aidpath sharp" and not r.get("edge")]
    print(f"aidpath sharp, not cut by the field edge: {sum(r['flag'] for r in edge)} / {len(edge)} flagged")

    if args.timing_slide.exists():
        boxes, _ = truth(args.timing_slide.with_suffix(".geojson"))
        times = [run(args.timing_slide, boxes) for _ in range(3)]
        res = times[0][0]
        print(f"timing: {len(boxes)} glomeruli on {args.timing_slide.name}: "
              f"{', '.join(f'{t:.3f}' for _, t in times)} s; flagged {sum(x.out_of_focus for x in res)} "
              f"(reference {res[0].reference:.3f})")
    print("nan scores:", sum(1 for r in rows if math.isnan(r["score"])))


if __name__ == "__main__":
    main()
