"""Train the multi-label glomerulus classifier and export it to ONNX with a card.

Global sclerosis is learnt from real crops (and synthetic glomeruli); the other findings only from
synthetic glomeruli. Thresholds are chosen on data kept apart from training: a held-out centre for
global sclerosis, held-out synthetic slides for the rest.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from PIL import Image

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
from models.training.data import FINDINGS, CropRecord, find_slides, place_crop, read_crop_folder, slide_crops
from models.training.nets import GlomNet
from worker.evaluation.metrics import choose_thresholds, finding_metrics, sigmoid

CLS_MPP = 2.0  # µm/px of classifier crops
CROP = 128  # crop edge, px (256 µm: the largest glomeruli fit with a rim of context)
VERSION = "1.1.0"

# Published inter-observer agreement, for the reliability gate of DOMAIN.md §2. Approximate values
# recalled from the cited literature and NOT verified here: an institution must confirm them.
KAPPA_LITERATURE: dict[str, dict[str, Any]] = {
    "global_sclerosis": {"kappa": 0.8, "source": "global sclerosis is the most reproducible glomerular lesion in "
                         "inter-observer studies (e.g. Oxford IgAN working group, Kidney Int 2009)"},
    "segmental_sclerosis": {"kappa": 0.5, "source": "Oxford classification of IgAN (S lesion), Kidney Int 2009"},
    "cellular_crescent": {"kappa": 0.5, "source": "crescent scoring studies in IgAN/ANCA GN (Oxford C, Haas 2017)"},
    "fibrocellular_crescent": {"kappa": 0.4, "source": "crescent subtype distinctions are less reproducible"},
    "fibrous_crescent": {"kappa": 0.4, "source": "crescent subtype distinctions are less reproducible"},
    "endocapillary_hypercellularity": {"kappa": 0.3, "source": "Oxford classification of IgAN (E lesion), Kidney Int 2009"},
    "mesangial_hypercellularity": {"kappa": 0.4, "source": "Oxford classification of IgAN (M lesion), Kidney Int 2009"},
    "nodular_sclerosis": {"kappa": 0.6, "source": "RPS diabetic nephropathy classification (Tervaert 2010)"},
    "fibrinoid_necrosis": {"kappa": 0.4, "source": "ISN/RPS lupus nephritis activity lesions (Bajema 2018)"},
}


def _real_batch(imgs: list[NDArray[np.uint8]], rng: np.random.Generator, *, train: bool) -> NDArray[np.uint8]:
    out = []
    for im in imgs:
        if train:
            d = float(rng.uniform(150, 250))
            a = float(np.exp(rng.uniform(-0.15, 0.15)))
            off = (int(rng.integers(-8, 9)), int(rng.integers(-8, 9)))
        else:
            d, a, off = 200.0, 1.0, (0, 0)
        out.append(place_crop(im, size=CROP, mpp=CLS_MPP, diameter_um=d, aspect=a, offset=off))
    return np.stack(out)


def real_crop_inputs(records: list[CropRecord]) -> NDArray[np.uint8]:
    """Deterministic classifier inputs for real crops (assumed 200 µm across, centred)."""
    imgs = [np.asarray(Image.open(r.image).convert("RGB")) for r in records]
    return _real_batch(imgs, np.random.default_rng(0), train=False)


def predict(model: torch.nn.Module, X: NDArray[np.uint8], batch: int = 64) -> NDArray[np.float32]:
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            outs.append(model(to_tensor(X[i : i + batch])).numpy())
    return sigmoid(np.concatenate(outs)) if outs else np.zeros((0, len(FINDINGS)), np.float32)


def train_classifier(
    *,
    slides: list[Path],
    crops: Path | None,
    train_centres: set[str],
    val_centres: set[str],
    val_slides: list[Path],
    out_dir: Path,
    epochs: int = 30,
    batch: int = 32,
    seed: int = 0,
    threads: int = 2,
    export: bool = True,
    strong_stain: str = "off",
    log: Any = print,
) -> dict[str, Any]:
    """Train, choose per-finding thresholds on held-out data, export ONNX and write the card.

    Args:
        slides: training slides with finding labels in their GeoJSON.
        crops: folder of real crops (global sclerosis only).
        train_centres: crop centres to train on (default: all except `val_centres`).
        val_centres: crop centres kept apart for global-sclerosis thresholds and metrics.
        val_slides: held-out slides for the synthetic findings' thresholds and metrics.
        out_dir: model folder.
        epochs: passes over the training set.
        export: write model.onnx + card.json (False: only report metrics).
    """
    setup_torch(threads, seed)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    records = read_crop_folder(crops) if crops else []
    tr_rec = [r for r in records if (r.centre in train_centres if train_centres else r.centre not in val_centres)]
    va_rec = [r for r in records if r.centre in val_centres]
    overlap = {r.slide for r in tr_rec} & {r.slide for r in va_rec}
    if overlap:
        raise SystemExit(f"slides in both training and validation: {sorted(overlap)}")
    tr_imgs = [np.asarray(Image.open(r.image).convert("RGB")) for r in tr_rec]
    tr_y_real = np.full((len(tr_rec), len(FINDINGS)), np.nan, np.float32)
    tr_y_real[:, 0] = [r.gs for r in tr_rec]
    Xs, Ys, _ = slide_crops(find_slides(slides), mpp=CLS_MPP, size=CROP) if slides else (
        np.zeros((0, CROP, CROP, 3), np.uint8), np.zeros((0, len(FINDINGS)), np.float32), [])
    Xv_real = real_crop_inputs(va_rec) if va_rec else np.zeros((0, CROP, CROP, 3), np.uint8)
    yv_real = np.asarray([r.gs for r in va_rec], np.float64)
    Xv_syn, Yv_syn, _ = slide_crops(find_slides(val_slides), mpp=CLS_MPP, size=CROP) if val_slides else (
        np.zeros((0, CROP, CROP, 3), np.uint8), np.zeros((0, len(FINDINGS)), np.float32), [])
    log(f"train: {len(tr_rec)} real crops ({sorted({r.centre for r in tr_rec})}), {len(Xs)} synthetic crops; "
        f"val: {len(va_rec)} real crops ({sorted(val_centres)}), {len(Xv_syn)} synthetic; {time.perf_counter() - t0:.1f}s")
    model = GlomNet(len(FINDINGS))
    n_real, n_syn = len(tr_rec), len(Xs)
    n = n_real + n_syn
    steps_per_epoch = max(1, n // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * steps_per_epoch, pct_start=0.2)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for ep in range(epochs):
        model.train()
        perm = rng.permutation(n)
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * batch : (s + 1) * batch]
            ri = [i for i in idx if i < n_real]
            si = [i - n_real for i in idx if i >= n_real]
            parts_x, parts_y = [], []
            if ri:
                xr = to_tensor(_real_batch([tr_imgs[i] for i in ri], rng, train=True))
                parts_x.append(augment(xr, None, gen, strong=strong_stain in ("all", "real"))[0])
                parts_y.append(tr_y_real[ri])
            if si:
                parts_x.append(augment(to_tensor(Xs[si]), None, gen, strong=strong_stain == "all")[0])
                parts_y.append(Ys[si])
            x = torch.cat(parts_x)
            y = torch.from_numpy(np.concatenate(parts_y))
            logits = model(x)
            known = ~torch.isnan(y)
            loss = F.binary_cross_entropy_with_logits(logits[known], y[known])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        msg = f"epoch {ep} loss {tot / steps_per_epoch:.4f} {time.perf_counter() - t0:.0f}s"
        if len(Xv_real) and (ep % 5 == 4 or ep == epochs - 1):
            pv = predict(model, Xv_real)[:, 0]
            m = finding_metrics(yv_real, pv.astype(np.float64), {"t_lo": 0.5, "t_hi": 0.5})
            msg += f" | val GS AUC {m['auc']} BA@0.5 {m['balanced_accuracy_at_0.5']}"
        log(msg)
    # thresholds and metrics on held-out data
    thresholds: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    pv_syn = predict(model, Xv_syn) if len(Xv_syn) else np.zeros((0, len(FINDINGS)), np.float32)
    for j, key in enumerate(FINDINGS):
        if key == "global_sclerosis" and len(Xv_real):
            pv = predict(model, Xv_real)[:, 0].astype(np.float64)
            th = choose_thresholds(yv_real, pv)
            thresholds[key] = th
            metrics[key] = {"validation": f"real crops, held-out centre(s) {sorted(val_centres)} (slides never trained on)",
                            **finding_metrics(yv_real, pv, th)}
            if len(Xv_syn):
                metrics[key]["synthetic_validation"] = finding_metrics(Yv_syn[:, j].astype(np.float64),
                                                                       pv_syn[:, j].astype(np.float64), th)
        else:
            y = Yv_syn[:, j].astype(np.float64)
            p = pv_syn[:, j].astype(np.float64)
            m = ~np.isnan(y)
            th = choose_thresholds(y[m], p[m])
            thresholds[key] = th
            metrics[key] = {"validation": "held-out synthetic slides (drawn glomeruli)", **finding_metrics(y, p, th)}
        metrics[key]["kappa_literature"] = {**KAPPA_LITERATURE[key], "verified": False}
    result = {"thresholds": thresholds, "metrics": metrics, "train_centres": sorted({r.centre for r in tr_rec}),
              "val_centres": sorted(val_centres)}
    if export:
        out_dir.mkdir(parents=True, exist_ok=True)
        example = to_tensor(Xv_real[:2] if len(Xv_real) >= 2 else Xs[:2])
        export_onnx(model, example, out_dir / "model.onnx", spatial_dynamic=False)
        diff = torch_ort_max_diff(model, out_dir / "model.onnx", example)
        card = classifier_card(thresholds=thresholds, metrics=metrics, training={
            "real_crops_train": len(tr_rec), "real_crop_train_centres": result["train_centres"],
            "real_crops_validation": len(va_rec), "real_crop_validation_centres": sorted(val_centres),
            "synthetic_crops_train": int(n_syn), "synthetic_crops_validation": len(Xv_syn),
            "train_slides": [p.name for p, _ in find_slides(slides)], "epochs": epochs, "seed": seed,
            "strong_stain_augmentation": strong_stain,
            "torch_ort_max_abs_diff": diff})
        write_card(out_dir, card)
        log(f"exported {out_dir / 'model.onnx'}; torch vs ORT max |diff| {diff:.2e}")
        result["card"] = card
    for k in FINDINGS:
        log(f"{k}: AUC {metrics[k].get('auc')} thresholds {thresholds[k]['t_lo']}/{thresholds[k]['t_hi']} "
            f"n={metrics[k]['n']} pos={metrics[k]['n_pos']}")
    return result


SYNTHETIC_ONLY = [k for k in FINDINGS if k != "global_sclerosis"]


def classifier_card(*, thresholds: dict[str, Any], metrics: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """The machine-readable IO contract of the classifier."""
    return {
        "name": "glom_classifier",
        "task": "glomerulus_multilabel_classification",
        "version": VERSION,
        "architecture": "GlomNet (8 conv layers 16/32/64/96, global average pool, linear), from scratch",
        "input": {
            "mpp": CLS_MPP,
            "crop": CROP,
            "crop_centre": "centre of the glomerulus bounding box",
            "layout": "NCHW float32 RGB",
            "normalisation": {"type": "(x/255 - mean) / std", "mean": MEAN, "std": STD},
        },
        "output": {"name": "logits", "activation": "sigmoid (independent per class)"},
        "classes": list(FINDINGS),
        "stains": ["pas", "pam", "mt", "he"],
        "thresholds": thresholds,
        "metrics": metrics,
        "synthetic_only": SYNTHETIC_ONLY,
        "training": training,
        "training_data": [
            {"what": "real PAS glomerulus crops (global sclerosis labels)",
             "source": "Weishaupt et al. 2025, 'Unsupervised learning for labeling global glomerulosclerosis', "
                       "Computers in Biology and Medicine 196:110719 (repository patologiivest/"
                       "GlobalGlomerulosclerosisClustering), cut from the AIDPATH WSIs of Bueno et al. 2020, "
                       "'Data for glomeruli characterization in histopathological images', Data in Brief 29:105314 "
                       "(Mendeley Data doi:10.17632/k7nvtgn2x6.3, CC BY 4.0)",
             "licence": "CC BY-NC-SA 4.0"},
            {"what": "glomcheck synthetic slides (drawn glomeruli with all nine findings), PAS/PAM/MT/HE",
             "licence": "generated by glomcheck"},
        ],
        "licence": "CC BY-NC-SA 4.0 (inherited from the real crops): research use only, attribution, no commercial "
                   "use, share-alike",
    }
