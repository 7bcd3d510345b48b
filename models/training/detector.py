"""Train the glomerulus detector (tiny U-Net) on slides with GeoJSON truth and export it to ONNX."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.training.common import (
    MEAN,
    STD,
    augment,
    export_onnx,
    setup_torch,
    to_tensor,
    torch_ort_max_diff,
    write_card,
)
from models.training.data import detector_patches, field_patches, find_slides, mosaic_patches
from models.training.nets import TinyUNet

DET_MPP = 2.0  # µm/px of the detector input
OUT_STRIDE = 2  # output map is 1/2 of the input: 4 µm/px
TILE = 768  # inference tile, input px (1536 µm); 512 until trial T3 (TRIALS.md): same detections, 14 % less time
STRIDE = 640  # inference stride, input px (256 µm overlap ≥ the largest glomerulus)
TRIM = 32  # output px discarded at each inner tile border when stitching (128 µm)
VERSION = "1.3.0"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "glom_detector"
# Recipe defaults (v1.2.0): part of every slide's patches centred on arterioles (the look-alikes behind the
# v1.1.0 false positives) and more patches from composited H&E slides (the group below target).
VESSEL_FRAC = 0.15
SLIDE_WEIGHTS = {"he/composited": 1.5}
# How the card words each handling of real glomeruli cut by the field edge (models.training.data.field_patches).
EDGE_CUT_TEXT = {"dont_care": "don't care (loss weight 0, +16 µm ring)",
                 "visible": "visible part trained on (normal loss weight, no don't-care ring)",
                 "stitched": ("fields stitched back into their groups (shared edges rejoined, so those glomeruli are "
                              "whole targets); only glomeruli cut by a group's outer edge don't care (loss weight 0, "
                              "+16 µm ring); glass cells weight 0")}


def train_detector(
    slides: list[Path],
    out_dir: Path,
    *,
    steps: int = 500,
    batch: int = 12,
    patch: int = 192,
    per_slide: int = 120,
    seed: int = 0,
    threads: int = 2,
    fields: Path | None = None,
    fields_split: str = "train",
    field_mpp: float = 0.5,
    per_field: int = 60,
    real_batch: int = 6,
    exclude_fields: tuple[str, ...] = (),
    vessel_frac: float = VESSEL_FRAC,
    slide_weights: dict[str, float] | None = None,
    edge_cut: str = "dont_care",
    log: Any = print,
) -> dict[str, Any]:
    """Train, export `out_dir/model.onnx` and write a card (metrics added by evaluation later).

    Args:
        slides: slide files or folders; each slide needs a same-named .geojson.
        out_dir: model folder (e.g. models/glom_detector).
        steps: optimiser steps.
        batch: patches per step.
        patch: training patch edge at DET_MPP (input px).
        per_slide: patches sampled per slide.
        seed: RNG seed.
        threads: torch CPU threads.
        fields: optional folder of real fields (images/ + masks/, e.g. shared/data/fields/aidpath-pas);
            only the fixed `fields_split` half (worker.evaluation.fields.field_split) is used, never "heldout".
        field_mpp: µm/px of the field images.
        per_field: patches sampled per field and scale.
        real_batch: real-field patches added to each step's batch.
        exclude_fields: field file names left out (e.g. one with a known annotation gap).
        vessel_frac: fraction of synthetic patches centred on an arteriole of the truth (hard negatives).
        slide_weights: "stain/kind" (kind = drawn|composited) → multiplier of `per_slide` (default SLIDE_WEIGHTS).
            Training on the "heldout" fields half is only allowed for a model written outside the shipped
            folder (the reverse fold of the real-field check, never shipped).
        edge_cut: real glomeruli cut by the field edge: "dont_care" (v1.2.0: loss weight 0 plus a 16 µm ring),
            "visible" (their visible part is a normal target; trial T1 in models/glom_detector/TRIALS.md) or
            "stitched" (neighbouring fields stitched first, `data.mosaic_patches`, so only glomeruli cut by a
            group's outer edge stay don't care; trial T2; `per_field` is then per field of a group).
    """
    check_fields_split(out_dir, fields_split)
    setup_torch(threads, seed)
    pairs = find_slides(slides)
    if not pairs:
        raise SystemExit("no slides with a same-named .geojson found")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    weights = dict(SLIDE_WEIGHTS if slide_weights is None else slide_weights)
    X, Y = detector_patches(pairs, mpp=DET_MPP, patch=patch, out_stride=OUT_STRIDE, per_slide=per_slide, rng=rng,
                            vessel_frac=vessel_frac, slide_weight=lambda sl: weights.get(slide_group(sl), 1.0))
    log(f"patches: {X.shape[0]} from {len(pairs)} slides in {time.perf_counter() - t0:.1f}s; "
        f"foreground {Y.mean():.3f}")
    real_names: list[str] = []
    groups: list[list[str]] | None = None
    XR = YR = WR = None
    if fields is not None:
        from worker.evaluation.fields import field_split

        imgs = [p for p in field_split(fields, fields_split) if p.name not in exclude_fields]
        real_names = [p.name for p in imgs]
        if edge_cut == "stitched":
            XR, YR, WR, groups = mosaic_patches(fields, real_names, field_mpp=field_mpp, mpp=DET_MPP, patch=patch,
                                                out_stride=OUT_STRIDE, per_field=per_field, rng=rng)
            log(f"stitched groups: {' | '.join('+'.join(g) for g in groups)}")
        else:
            XR, YR, WR = field_patches(imgs, fields / "masks", field_mpp=field_mpp, mpp=DET_MPP, patch=patch,
                                       out_stride=OUT_STRIDE, per_field=per_field, rng=rng, edge_cut=edge_cut)
        log(f"real field patches: {XR.shape[0]} from {len(imgs)} fields ({fields_split} half): {', '.join(real_names)}; "
            f"foreground {YR.mean():.3f}, don't-care {1 - WR.mean():.3f}")
    model = TinyUNet()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    n = X.shape[0]
    model.train()
    t0 = time.perf_counter()
    for step in range(steps):
        idx = rng.integers(0, n, batch)
        xb, yb, wb = X[idx], Y[idx], np.ones_like(Y[idx])
        if XR is not None and YR is not None and WR is not None and real_batch > 0:
            jdx = rng.integers(0, XR.shape[0], real_batch)
            xb, yb, wb = (np.concatenate([xb, XR[jdx]]), np.concatenate([yb, YR[jdx]]), np.concatenate([wb, WR[jdx]]))
        x = to_tensor(xb)
        yw = torch.from_numpy(np.stack([yb, wb], axis=1)).float()
        x, yw2 = augment(x, yw, gen)
        assert yw2 is not None
        y2, w2 = yw2[:, :1], yw2[:, 1:]
        logits = model(x)
        p = torch.sigmoid(logits) * w2
        inter = (p * y2).sum()
        dice = 1 - (2 * inter + 1) / (p.sum() + (y2 * w2).sum() + 1)
        bce = F.binary_cross_entropy_with_logits(logits, y2, weight=w2, reduction="sum") / w2.sum().clamp(min=1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step} loss {loss.item():.4f} dice {1 - dice.item():.3f} {time.perf_counter() - t0:.0f}s")
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    example = to_tensor(X[:2, :192, :192])
    export_onnx(model, example, out_dir / "model.onnx", spatial_dynamic=True)
    diff = torch_ort_max_diff(model, out_dir / "model.onnx", example)
    card = detector_card(train_slides=[p.name for p, _ in pairs], n_patches=int(n), steps=steps, batch=batch,
                         patch=patch, per_slide=per_slide, seed=seed, threads=threads, vessel_frac=vessel_frac,
                         slide_weights=weights, torch_ort_max_abs_diff=diff,
                         real_fields=({"folder": fields.name, "split": fields_split, "fields": real_names,
                                       "field_mpp_assumed": field_mpp, "per_field_per_scale": per_field,
                                       "scales": [0.9, 1.0, 1.1], "real_batch": real_batch,
                                       "edge_cut": EDGE_CUT_TEXT[edge_cut],
                                       **({"stitched_groups": groups} if groups else {})} if fields else None))
    write_card(out_dir, card)
    log(f"exported {out_dir / 'model.onnx'}; torch vs ORT max |diff| {diff:.2e}")
    return card


def check_fields_split(out_dir: Path, fields_split: str) -> None:
    """Only the reverse-fold check model, written outside the shipped folder, may learn the held-out fields."""
    if fields_split not in ("train", "heldout"):
        raise ValueError(f"fields_split must be 'train' or 'heldout', not {fields_split!r}")
    if fields_split == "heldout" and out_dir.resolve() == SHIPPED_DIR.resolve():
        raise ValueError("never train the shipped detector on the held-out fields")


def slide_group(slide: Path) -> str:
    """"stain/kind" of a slide from its truth GeoJSON properties (kind: drawn or composited)."""
    import json

    props = json.loads(slide.with_suffix(".geojson").read_text()).get("properties") or {}
    return f"{props.get('stain', '?')}/{'composited' if props.get('composited') else 'drawn'}"


def _edge_cut_phrase(edge_cut_text: str) -> str:
    """How the card's training-data line says what happened to real glomeruli cut by a field edge."""
    if edge_cut_text == EDGE_CUT_TEXT["dont_care"]:
        return "glomeruli cut by the field edge masked out of the loss"
    if edge_cut_text == EDGE_CUT_TEXT["stitched"]:
        return ("neighbouring fields stitched back into their groups, so glomeruli cut by a shared edge are whole "
                "targets; only those cut by a group's outer edge masked out of the loss")
    return "the visible parts of glomeruli cut by the field edge trained on like whole ones"


def detector_card(**training: Any) -> dict[str, Any]:
    """The machine-readable IO contract of the detector."""
    return {
        "name": "glom_detector",
        "task": "glomerulus_instance_segmentation",
        "version": VERSION,
        "architecture": "TinyUNet (4-level U-Net, channels 8/16/32/64, BatchNorm folded), from scratch",
        "input": {
            "mpp": DET_MPP,
            "tile": TILE,
            "stride": STRIDE,
            "multiple_of": 16,
            "layout": "NCHW float32 RGB",
            "normalisation": {"type": "(x/255 - mean) / std", "mean": MEAN, "std": STD},
        },
        "output": {
            "name": "logits",
            "stride": OUT_STRIDE,
            "mpp": DET_MPP * OUT_STRIDE,
            "activation": "sigmoid",
            "trim": TRIM,
        },
        "postprocess": {"threshold": 0.5, "min_diameter_um": 50.0, "split_distance_um": 100.0},
        "classes": ["glomerulus"],
        "stains": ["pas", "pam", "mt", "he"],
        "thresholds": {"glomerulus": {"t_lo": 0.5, "t_hi": 0.5}},
        "training": training,
        "training_data": [
            {"what": "glomcheck synthetic slides (drawn glomeruli), PAS/PAM/MT/HE", "licence": "generated by glomcheck"},
            {"what": "synthetic slides with composited real glomerulus crops, centre SESCAM only",
             "source": "Weishaupt et al. 2025, Comput Biol Med 196:110719 (patologiivest/GlobalGlomerulosclerosisClustering), "
                       "cut from AIDPATH WSIs of Bueno et al. 2020, Data in Brief 29:105314, doi:10.17632/k7nvtgn2x6.3",
             "licence": "CC BY-NC-SA 4.0 (crops); CC BY 4.0 (AIDPATH)"},
            *([{"what": f"real PAS fields with glomerulus masks, AIDPATH, fixed 'train' half "
                        f"({len(training['real_fields']['fields'])} fields: {', '.join(training['real_fields']['fields'])}; "
                        "sorted names, first half; the 'heldout' half was never trained on), resampled to 2 µm/px, "
                        + _edge_cut_phrase(training["real_fields"].get("edge_cut", EDGE_CUT_TEXT["dont_care"])),
                "source": "Bueno, Gonzalez-Lopez, Garcia-Rojo, Laurinavicius, Deniz: AIDPATH data of Bueno et al. 2020, "
                          "Data in Brief 29:105314, Mendeley Data doi:10.17632/k7nvtgn2x6.3; 1024² tiles from the mini_test "
                          "folder of sarah-antillia/TensorFlow-FlexUNet-Tiled-Image-Segmentation-Glomeruli (Apache-2.0), "
                          "from the Kaggle 'Glomeruli (HuBMAP external) 1024x1024' tiling",
                "licence": "CC BY 4.0 (attribution as in source)"}] if training.get("real_fields") else []),
        ],
        "licence": "CC BY-NC-SA 4.0 (inherited from the real crops used in training): research use only, no commercial use",
        "metrics": {},
    }
