"""Train the multi-label glomerulus classifier and export it to ONNX with a card.

Global sclerosis is learnt from real crops (and synthetic glomeruli); the other findings only from
synthetic glomeruli. Thresholds are chosen on data kept apart from training: a held-out centre for
global sclerosis, held-out synthetic slides for the rest.
"""

from __future__ import annotations

import json
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
    hed_jitter,
    setup_torch,
    to_tensor,
    torch_ort_max_diff,
    write_card,
)
from models.training.data import FINDINGS, CropRecord, find_slides, place_crop, read_crop_folder, slide_crops
from models.training.nets import TTA_TRANSFORMS, GlomNet, GlomNetN, GSWithFindings, TTAEnsemble
from worker.evaluation.metrics import (
    auc,
    balanced_accuracy,
    calibration,
    choose_thresholds,
    confusion,
    finding_metrics,
    sigmoid,
)

CLS_MPP = 2.0  # µm/px of classifier crops
CROP = 128  # crop edge, px (256 µm: the largest glomeruli fit with a rim of context)
VERSION = "1.4.0"

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


def predict_logits(model: torch.nn.Module, X: NDArray[np.uint8], batch: int = 64) -> NDArray[np.float32]:
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            outs.append(model(to_tensor(X[i : i + batch])).numpy())
    return np.concatenate(outs) if outs else np.zeros((0, len(FINDINGS)), np.float32)


def predict(model: torch.nn.Module, X: NDArray[np.uint8], batch: int = 64) -> NDArray[np.float32]:
    return sigmoid(predict_logits(model, X, batch))


def make_net(arch: str) -> torch.nn.Module:
    """`glomnet`: v1 net on the card's fixed normalisation; `glomnet_n`: with in-graph tissue OD standardisation;
    `glomnet_n64`: the same on the input average-pooled 2x2 (64² at 4 µm/px inside the graph, 4x cheaper)."""
    if arch == "glomnet":
        return GlomNet(len(FINDINGS))
    if arch == "glomnet_n":
        return GlomNetN(len(FINDINGS), MEAN, STD)
    if arch == "glomnet_n64":
        return GlomNetN(len(FINDINGS), MEAN, STD, pool=2)
    if arch == "glomnet_g64":  # trial (TRIALS: gain normalisation): OD divided by its tissue mean, not standardised
        return GlomNetN(len(FINDINGS), MEAN, STD, pool=2, norm="gain")
    raise ValueError(arch)


def train_one(
    tr_imgs: list[NDArray[np.uint8]], tr_y_real: NDArray[np.float32], Xs: NDArray[np.uint8], Ys: NDArray[np.float32], *,
    epochs: int, batch: int, seed: int, arch: str = "glomnet", strong_stain: str = "off", hed: bool = False,
    label_smoothing: float = 0.0, Xv_real: NDArray[np.uint8] | None = None, yv_real: NDArray[np.float64] | None = None,
    log: Any = print,
) -> torch.nn.Module:
    """One network from scratch on real crops (GS labels only) plus synthetic crops (all labels, NaN = unknown)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = make_net(arch)
    n_real, n_syn = len(tr_imgs), len(Xs)
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
                xr = augment(xr, None, gen, strong=strong_stain in ("all", "real"))[0]
                parts_x.append(hed_jitter(xr, gen) if hed else xr)
                parts_y.append(tr_y_real[ri])
            if si:
                xs = augment(to_tensor(Xs[si]), None, gen, strong=strong_stain == "all")[0]
                parts_x.append(hed_jitter(xs, gen) if hed else xs)
                parts_y.append(Ys[si])
            x = torch.cat(parts_x)
            y = torch.from_numpy(np.concatenate(parts_y))
            logits = model(x)
            known = ~torch.isnan(y)
            target = y[known] * (1 - label_smoothing) + 0.5 * label_smoothing
            loss = F.binary_cross_entropy_with_logits(logits[known], target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        msg = f"seed {seed} epoch {ep} loss {tot / steps_per_epoch:.4f} {time.perf_counter() - t0:.0f}s"
        if Xv_real is not None and yv_real is not None and len(Xv_real) and (ep % 10 == 9 or ep == epochs - 1):
            pv = predict(model, Xv_real)[:, 0]
            m = finding_metrics(yv_real, pv.astype(np.float64), {"t_lo": 0.5, "t_hi": 0.5})
            msg += f" | val GS AUC {m['auc']} BA@0.5 {m['balanced_accuracy_at_0.5']}"
        log(msg)
    model.eval()
    return model


def _fold_into(net: GlomNet, convs: list[Any], init: dict[str, torch.Tensor], fc: str) -> GlomNet:
    """Copy exported (BatchNorm-folded) conv weights and the `fc` linear layer into `net`: each BatchNorm becomes the
    identity plus the conv's bias."""
    layers = [m for m in net.features]
    if len(convs) != len(layers):
        raise ValueError(f"{len(convs)} convolutions, GlomNet has {len(layers)}")
    with torch.no_grad():
        for node, layer in zip(convs, layers):
            conv, bn = layer[0], layer[1]
            conv.weight.copy_(init[node.input[1]])
            bn.weight.fill_(1.0)
            bn.bias.copy_(init[node.input[2]])
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        net.fc.weight.copy_(init[f"{fc}.weight"])
        net.fc.bias.copy_(init[f"{fc}.bias"])
    return net.eval()


def _onnx_init(path: Path) -> tuple[Any, dict[str, torch.Tensor]]:
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    return g, {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in g.initializer}


def glomnet_from_onnx(path: Path) -> GlomNet:
    """A GlomNet carrying the weights of an exported GlomNet ONNX file (BatchNorm was folded into the convs on export,
    so each BatchNorm becomes the identity plus the conv's bias). Used to keep a previous version's outputs exactly."""
    g, init = _onnx_init(path)
    convs = [n for n in g.node if n.op_type == "Conv"]
    fc_w = init["fc.weight"]
    net = GlomNet(fc_w.shape[0], tuple(int(init[c.input[1]].shape[0]) for c in convs[::2]))  # type: ignore[arg-type]
    try:
        return _fold_into(net, convs, init, "fc")
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def gs_members_from_onnx(path: Path, arch: str = "glomnet_n64") -> tuple[list[torch.nn.Module], dict[str, Any]]:
    """The GS member networks of a shipped composed graph (`GSWithFindings(TTAEnsemble(...), rest)`), weight for
    weight, plus its Platt constants: each member's convolutions are found by walking back from its
    `gs.members.<i>.net.fc` Gemm. Lets a shipped ensemble be recalibrated without retraining it."""
    g, init = _onnx_init(path)
    producer = {o: n for n in g.node for o in n.output}
    members: list[torch.nn.Module] = []
    i = 0
    while f"gs.members.{i}.net.fc.weight" in init:
        gemm = next(n for n in g.node if n.op_type == "Gemm" and f"gs.members.{i}.net.fc.weight" in n.input)
        convs, node = [], producer.get(gemm.input[0])
        while node is not None and node.op_type in ("Flatten", "GlobalAveragePool", "Relu", "Conv"):
            if node.op_type == "Conv":
                convs.append(node)
            node = producer.get(node.input[0])
        m = make_net(arch)
        _fold_into(m.net, convs[::-1], init, f"gs.members.{i}.net.fc")  # type: ignore[arg-type]
        members.append(m.eval())
        i += 1
    return members, {"cal_a": init["gs.cal_a"].numpy().tolist(), "cal_b": init["gs.cal_b"].numpy().tolist()}


def fit_platt(logit: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    """(a, b) minimising the log loss of sigmoid(a * logit + b) (Platt scaling; a kept ≥ 0.05)."""
    from scipy.optimize import minimize

    z, y = np.asarray(logit, np.float64), np.asarray(y, np.float64)

    def nll(ab: NDArray[np.float64]) -> float:
        t = ab[0] * z + ab[1]
        return float(np.mean(np.logaddexp(0, t) - y * t))

    r = minimize(nll, np.array([1.0, 0.0]), method="L-BFGS-B", bounds=[(0.05, 10.0), (-20.0, 20.0)])
    return float(r.x[0]), float(r.x[1])


def crossfit_platt(logit: NDArray[np.float64], y: NDArray[np.float64], groups: list[str]) -> NDArray[np.float64]:
    """Leave-one-slide-out Platt probabilities: each slide calibrated by a fit on the other slides only."""
    out = np.zeros(len(y))
    g = np.asarray(groups)
    for s in sorted(set(groups)):
        m = g == s
        a, b = fit_platt(logit[~m], y[~m])
        out[m] = 1 / (1 + np.exp(-(a * logit[m] + b)))
    return out


def max_ba_cut(y: NDArray[np.float64], p: NDArray[np.float64]) -> float:
    """The cut with the highest balanced accuracy (Youden's J) for calls p >= t: the first best (scanning upwards),
    placed halfway between the lowest probability called present and the next lower one."""
    ps = np.unique(p)
    best, t_best = -1.0, 0.5
    for i, t in enumerate(ps):
        ba = balanced_accuracy(y, p >= t) or 0.0
        if ba > best + 1e-12:
            best, t_best = ba, float((t + ps[i - 1]) / 2) if i else float(t)
    return round(t_best, 4)


def _load_oof(oof: Path | list[Path]) -> dict[str, Any]:
    """One `crossval_gs --save` file, or several runs of the same folds with other seeds (per-seed rows stacked)."""
    files = [oof] if isinstance(oof, (str, Path)) else list(oof)
    ds = [dict(np.load(f, allow_pickle=False)) for f in files]
    d = ds[0]
    for f, e in zip(files[1:], ds[1:]):
        for k in ("y", "fold", "slide", "centre", "image", "tta", "epochs", "arch"):
            if not np.array_equal(d[k], e[k]):
                raise ValueError(f"{f}: {k} differs from {files[0]} (not the same folds/recipe)")
    seeds = np.concatenate([e["seeds"] for e in ds])
    if len(set(seeds.tolist())) != len(seeds):
        raise ValueError(f"a seed appears in more than one of {files}")
    return {**d, "z": np.concatenate([e["z"] for e in ds]), "seeds": seeds}


def oof_calibration(oof: Path | list[Path], *, seeds: list[int] | None = None) -> dict[str, Any]:
    """Platt (a, b) and thresholds chosen on out-of-fold logits of the training centre (`crossval_gs --save`).

    a, b: `fit_platt` on the pooled out-of-fold logits (mean over the seeds present for every crop); t_lo, t_hi:
    the card's rules (`choose_thresholds`) on the calibrated out-of-fold probabilities; t_balanced: the cut of
    highest balanced accuracy there (reported, not used by the worker). Nothing of the held-out centre is read.
    Several files (the same folds run with other seeds, e.g. in parallel) are pooled seed by seed.
    """
    d = _load_oof(oof)
    zs, y, all_seeds = d["z"], d["y"], [int(s) for s in d["seeds"]]
    keep = [i for i, s in enumerate(all_seeds) if (seeds is None or s in seeds) and not np.isnan(zs[i]).any()]
    if not keep:
        raise ValueError(f"{oof}: no seed with out-of-fold logits for every crop")
    z = zs[keep].mean(0)
    a, b = fit_platt(z, y)
    p = 1 / (1 + np.exp(-(a * z + b)))
    th = choose_thresholds(y, p)
    th["t_balanced"] = max_ba_cut(y, p)
    slides = [str(s) for s in d["slide"]]
    rep = gs_report(y, z, slides, cal=(a, b), thresholds=th)
    rep.pop("thresholds")
    return {"a": round(a, 4), "b": round(b, 4), "thresholds": th, "seeds": [all_seeds[i] for i in keep],
            "centres": sorted({str(c) for c in d["centre"]}), "folds": int(d["fold"].max()) + 1,
            "slides": len(set(slides)), "tta": int(d["tta"]), "epochs": int(d["epochs"]), "arch": str(d["arch"]),
            "out_of_fold": rep}


def gs_report(y: NDArray[np.float64], logit: NDArray[np.float64], groups: list[str], *,
              cal: tuple[float, float] | None = None, thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    """GS figures on a held-out centre. Without `thresholds` they are chosen on the same crops (say so where
    reported); with them (chosen elsewhere) the crops only measure."""
    a, b = cal if cal is not None else (1.0, 0.0)
    p = 1 / (1 + np.exp(-(a * logit + b)))
    th = dict(thresholds) if thresholds is not None else choose_thresholds(y, p)
    m = finding_metrics(y, p, th)
    bat = balanced_accuracy(y, p >= th["t_hi"])
    m["balanced_accuracy_at_t_hi"] = None if bat is None else round(bat, 4)
    if th.get("t_balanced") is not None:
        bab = balanced_accuracy(y, p >= th["t_balanced"])
        m["balanced_accuracy_at_t_balanced"] = None if bab is None else round(bab, 4)
        m["confusion_at_t_balanced"] = confusion(y, p >= th["t_balanced"])
    m["thresholds"] = th
    p0 = 1 / (1 + np.exp(-logit))
    m["uncalibrated_ece"] = calibration(y, p0)["ece"]
    ba0 = balanced_accuracy(y, p0 >= 0.5)
    m["uncalibrated_balanced_accuracy_at_0.5"] = None if ba0 is None else round(ba0, 4)
    if len(set(groups)) > 2:
        pc = crossfit_platt(logit, y, groups)
        ba = balanced_accuracy(y, pc >= 0.5)
        m["leave_one_slide_out_platt"] = {"ece": calibration(y, pc)["ece"],
                                          "balanced_accuracy_at_0.5": None if ba is None else round(ba, 4)}
    return m


def _load_real(crops: Path | None, train_centres: set[str], val_centres: set[str]) -> tuple[list[CropRecord], list[CropRecord]]:
    records = read_crop_folder(crops) if crops else []
    tr_rec = [r for r in records if (r.centre in train_centres if train_centres else r.centre not in val_centres)]
    va_rec = [r for r in records if r.centre in val_centres]
    overlap = {r.slide for r in tr_rec} & {r.slide for r in va_rec}
    if overlap:
        raise SystemExit(f"slides in both training and validation: {sorted(overlap)}")
    return tr_rec, va_rec


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
    seeds: list[int] | None = None,
    threads: int = 2,
    export: bool = True,
    strong_stain: str = "off",
    arch: str = "glomnet",
    hed: bool = False,
    label_smoothing: float = 0.0,
    tta: int = 1,
    calibrate: bool = False,
    extra_training: dict[str, Any] | None = None,
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
        seeds: train one network per seed and average their logits (default: [seed]).
        arch: `glomnet` or `glomnet_n` (in-graph tissue OD standardisation).
        tta: dihedral test-time transforms averaged in the graph (1, 2, 4 or 8).
        calibrate: Platt-scale the GS logit on the held-out centre (in the graph; other findings untouched).
        export: write model.onnx + card.json (False: only report metrics).
    """
    seeds = list(seeds) if seeds else [seed]
    setup_torch(threads, seeds[0])
    t0 = time.perf_counter()
    tr_rec, va_rec = _load_real(crops, train_centres, val_centres)
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
    members = [train_one(tr_imgs, tr_y_real, Xs, Ys, epochs=epochs, batch=batch, seed=s, arch=arch,
                         strong_stain=strong_stain, hed=hed, label_smoothing=label_smoothing,
                         Xv_real=Xv_real, yv_real=yv_real, log=log) for s in seeds]
    transforms = TTA_TRANSFORMS[tta]
    model = TTAEnsemble(members, len(FINDINGS), transforms).eval()
    val_groups = [r.slide for r in va_rec]
    per_seed: dict[str, Any] = {}
    if len(Xv_real):
        for s, mem in zip(seeds, members):
            for name, tr in (("tta1", (0,)), (f"tta{tta}", transforms)):
                z = predict_logits(TTAEnsemble([mem], len(FINDINGS), tr).eval(), Xv_real)[:, 0].astype(np.float64)
                per_seed.setdefault(name, {})[str(s)] = round(float(auc(yv_real, z) or 0), 4)
        log(f"per-seed GS AUC on {sorted(val_centres)}: {per_seed}")
    thresholds: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    cal = (1.0, 0.0)
    if len(Xv_real):
        z = predict_logits(model, Xv_real)[:, 0].astype(np.float64)
        if calibrate:
            cal = fit_platt(z, yv_real)
            model.cal_a[0], model.cal_b[0] = cal[0], cal[1]
        rep = gs_report(yv_real, z, val_groups, cal=cal)
        log(f"ensemble of {len(seeds)} x TTA{tta} on {sorted(val_centres)}: AUC {rep['auc']} BA@t_hi {rep['balanced_accuracy_at_t_hi']} "
            f"BA@0.5 {rep['balanced_accuracy_at_0.5']} BA decided {rep.get('balanced_accuracy_decided')} indet "
            f"{rep['indeterminate_fraction']} ECE {rep['calibration']['ece']} (uncal {rep['uncalibrated_ece']}) "
            f"LOSO-Platt {rep.get('leave_one_slide_out_platt')} Platt {cal}")
    pv_syn = predict(model, Xv_syn) if len(Xv_syn) else np.zeros((0, len(FINDINGS)), np.float32)
    for j, key in enumerate(FINDINGS):
        if key == "global_sclerosis" and len(Xv_real):
            th = rep.pop("thresholds")
            thresholds[key] = th
            metrics[key] = {"validation": f"real crops, held-out centre(s) {sorted(val_centres)} (slides never trained on)",
                            **rep}
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
    result: dict[str, Any] = {"thresholds": thresholds, "metrics": metrics, "train_centres": sorted({r.centre for r in tr_rec}),
                              "val_centres": sorted(val_centres), "per_seed_auc": per_seed, "platt": cal, "model": model}
    if export:
        out_dir.mkdir(parents=True, exist_ok=True)
        example = to_tensor(Xv_real[:2] if len(Xv_real) >= 2 else Xs[:2])
        export_onnx(model, example, out_dir / "model.onnx", spatial_dynamic=False)
        diff = torch_ort_max_diff(model, out_dir / "model.onnx", to_tensor(Xv_real[:16] if len(Xv_real) else Xs[:16]))
        card = classifier_card(thresholds=thresholds, metrics=metrics, arch=arch, n_members=len(seeds), tta=tta,
                               training={
            "real_crops_train": len(tr_rec), "real_crop_train_centres": result["train_centres"],
            "real_crops_validation": len(va_rec), "real_crop_validation_centres": sorted(val_centres),
            "synthetic_crops_train": len(Xs), "synthetic_crops_validation": len(Xv_syn),
            "train_slides": [p.name for p, _ in find_slides(slides)], "epochs": epochs, "seeds": seeds,
            "strong_stain_augmentation": strong_stain, "hed_jitter": hed, "label_smoothing": label_smoothing,
            "tta_transforms": tta, "gs_platt_on_validation_centre": {"a": round(cal[0], 4), "b": round(cal[1], 4)}
            if calibrate else None, "per_seed_gs_auc_validation_centre": per_seed,
            "torch_ort_max_abs_diff": diff, **(extra_training or {})})
        write_card(out_dir, card)
        log(f"exported {out_dir / 'model.onnx'}; torch vs ORT max |diff| {diff:.2e}")
        result["card"] = card
    for k in FINDINGS:
        log(f"{k}: AUC {metrics[k].get('auc')} thresholds {thresholds[k]['t_lo']}/{thresholds[k]['t_hi']} "
            f"n={metrics[k]['n']} pos={metrics[k]['n_pos']}")
    return result


def crossval_gs(crops: Path, *, folds: int = 5, epochs: int = 40, seed: int = 0, seeds: list[int] | None = None,
                centres: set[str] | None = None, arch: str = "glomnet_n", strong_stain: str = "real", hed: bool = False,
                tta: int = 8, threads: int = 1, save: Path | None = None, log: Any = print) -> dict[str, Any]:
    """Slide-grouped k-fold (real crops only): out-of-fold GS logits, AUC and balanced accuracy.

    Slides are dealt to folds per centre in sorted order (round robin), so each fold holds slides of every centre.
    `centres` restricts the crops to those centres (e.g. the training centre only, to choose calibration and
    thresholds without the held-out centre). With several `seeds`, one network per seed and fold; the out-of-fold
    logit of a crop is the mean over seeds and `tta` transforms (as the shipped TTAEnsemble). Seeds are the outer
    loop, so a run cut short still has complete out-of-fold logits for the first seeds. `save`: an .npz with the
    per-seed out-of-fold logits (NaN where not yet computed), written after every fold.
    """
    seeds = list(seeds) if seeds else [seed]
    setup_torch(threads, seeds[0])
    recs = read_crop_folder(crops)
    if centres:
        recs = [r for r in recs if r.centre in centres]
    fold_of: dict[str, int] = {}
    for c in sorted({r.centre for r in recs}):
        for i, s in enumerate(sorted({r.slide for r in recs if r.centre == c})):
            fold_of[s] = i % folds
    X = real_crop_inputs(recs)
    y = np.asarray([r.gs for r in recs], np.float64)
    zs = np.full((len(seeds), len(recs)), np.nan)
    transforms = TTA_TRANSFORMS[tta]
    fold_auc: dict[str, list[float]] = {}
    for si, sd in enumerate(seeds):
        for f in range(folds):
            tr = [i for i, r in enumerate(recs) if fold_of[r.slide] != f]
            te = [i for i, r in enumerate(recs) if fold_of[r.slide] == f]
            ytr = np.full((len(tr), len(FINDINGS)), np.nan, np.float32)
            ytr[:, 0] = y[tr]
            imgs = [np.asarray(Image.open(recs[i].image).convert("RGB")) for i in tr]
            mem = train_one(imgs, ytr, np.zeros((0, CROP, CROP, 3), np.uint8), np.zeros((0, len(FINDINGS)), np.float32),
                            epochs=epochs, batch=32, seed=sd, arch=arch, strong_stain=strong_stain, hed=hed,
                            Xv_real=X[te], yv_real=y[te], log=log)
            zs[si, te] = predict_logits(TTAEnsemble([mem], len(FINDINGS), transforms).eval(), X[te])[:, 0]
            fa = auc(y[te], zs[si, te])
            fold_auc.setdefault(str(sd), []).append(round(float(fa), 4) if fa is not None else float("nan"))
            log(f"seed {sd} fold {f}: held-out slides {sorted({recs[i].slide for i in te})} AUC {fa}")
            if save is not None:
                save.parent.mkdir(parents=True, exist_ok=True)
                np.savez(save, z=zs, y=y, seeds=np.asarray(seeds), fold=np.asarray([fold_of[r.slide] for r in recs]),
                         slide=np.asarray([r.slide for r in recs]), centre=np.asarray([r.centre for r in recs]),
                         image=np.asarray([str(r.image) for r in recs]), tta=tta, epochs=epochs, arch=arch)
    z = zs.mean(0)
    p = 1 / (1 + np.exp(-z))
    out: dict[str, Any] = {"folds": folds, "epochs": epochs, "arch": arch, "tta": tta,
                           **({"seed": seeds[0]} if len(seeds) == 1 else {"seeds": seeds}), "fold_auc_per_seed": fold_auc}
    for g in sorted({r.centre for r in recs}) + ["overall"]:
        m = np.asarray([g == "overall" or r.centre == g for r in recs])
        ba = balanced_accuracy(y[m], p[m] >= 0.5)
        out[g] = {"n": int(m.sum()), "auc": round(float(auc(y[m], z[m]) or 0), 4),
                  "balanced_accuracy_at_0.5": None if ba is None else round(ba, 4), "ece": calibration(y[m], p[m])["ece"]}
    log(json.dumps(out))
    return out


SYNTHETIC_ONLY = [k for k in FINDINGS if k != "global_sclerosis"]


def norm_text(arch: str) -> str:
    """How the GS networks' in-graph stain normalisation treats optical density (card wording)."""
    if arch == "glomnet_g64":
        return "optical density divided per channel by its mean over tissue pixels, contrast kept"
    return "optical density standardised per channel over tissue pixels"


def architecture_text(arch: str, n_members: int, tta: int) -> str:
    base = "GlomNet (8 conv layers 16/32/64/96, global average pool, linear), from scratch"
    if arch in ("glomnet_n64", "glomnet_g64"):
        base = base + " on the input average-pooled 2x2 (64² px at 4 µm/px inside the graph)"
    if arch in ("glomnet_n", "glomnet_n64", "glomnet_g64"):
        base = f"in-graph per-image stain normalisation ({norm_text(arch)}) + " + base
    if n_members > 1 or tta > 1:
        base += (f"; {n_members} independently seeded networks x {tta} dihedral test-time transforms, logits averaged "
                 "in the one ONNX graph")
    return base


def classifier_card(*, thresholds: dict[str, Any], metrics: dict[str, Any], training: dict[str, Any],
                    arch: str = "glomnet", n_members: int = 1, tta: int = 1) -> dict[str, Any]:
    """The machine-readable IO contract of the classifier."""
    return {
        "name": "glom_classifier",
        "task": "glomerulus_multilabel_classification",
        "version": VERSION,
        "architecture": architecture_text(arch, n_members, tta),
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


def own_centre_fit(y: NDArray[np.float64], z: NDArray[np.float64], groups: list[str]) -> dict[str, Any]:
    """For comparison only: the figures if Platt and thresholds were fitted on these crops themselves (optimistic)."""
    cal = fit_platt(z, y)
    own = gs_report(y, z, groups, cal=cal)
    return {"platt": {"a": round(cal[0], 4), "b": round(cal[1], 4)}, "thresholds": own["thresholds"],
            **{k: own.get(k) for k in ("balanced_accuracy_at_0.5", "balanced_accuracy_at_t_hi", "balanced_accuracy_decided",
                                       "indeterminate_fraction")}, "ece": own["calibration"]["ece"]}


def evaluate_members(members_file: Path, crops: Path, val_centres: set[str], *, tta: int,
                     use_members: list[int] | None = None, calibration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Saved GS members (x `tta` transforms) on held-out centre(s): per-seed AUCs, `gs_report`.

    Without `calibration`, Platt and thresholds are fitted on the held-out centre itself (optimistic). With it
    (`oof_calibration` of the training centre: a, b, thresholds), the held-out centre only measures."""
    saved = torch.load(members_file, weights_only=False)
    idx = use_members if use_members is not None else list(range(len(saved["members"])))
    members = []
    for i in idx:
        m = make_net(saved["arch"])
        m.load_state_dict(saved["members"][i])
        members.append(m.eval())
    seeds = [saved["seeds"][i] for i in idx]
    transforms = TTA_TRANSFORMS[tta]
    gs = TTAEnsemble(members, len(FINDINGS), transforms).eval()
    tr_rec, va_rec = _load_real(crops, set(), val_centres)
    Xv = real_crop_inputs(va_rec)
    yv = np.asarray([r.gs for r in va_rec], np.float64)
    per_seed = {f"tta{t}": {str(s): round(float(auc(yv, predict_logits(TTAEnsemble([m], len(FINDINGS), tr).eval(), Xv)[:, 0])
                                                   or 0), 4) for s, m in zip(seeds, members)}
                for t, tr in ((1, (0,)), (tta, transforms))}
    z = predict_logits(gs, Xv)[:, 0].astype(np.float64)
    cal = (float(calibration["a"]), float(calibration["b"])) if calibration else fit_platt(z, yv)
    gs.cal_a[0], gs.cal_b[0] = cal[0], cal[1]
    rep = gs_report(yv, z, [r.slide for r in va_rec], cal=cal,
                    thresholds=calibration["thresholds"] if calibration else None)
    if calibration:
        rep["if_fitted_on_this_centre"] = own_centre_fit(yv, z, [r.slide for r in va_rec])
    rep["per_seed_auc"] = per_seed
    return {"model": gs, "report": rep, "platt": cal, "saved": saved, "seeds": seeds, "train_records": tr_rec,
            "val_records": va_rec, "X": Xv}


def ship_composed(
    *,
    members_file: Path,
    keep_from: Path,
    crops: Path,
    val_centres: set[str],
    out_dir: Path,
    tta: int,
    use_members: list[int] | None = None,
    notes: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    extra_training: dict[str, Any] | None = None,
    threads: int = 1,
    log: Any = print,
) -> dict[str, Any]:
    """Export GS networks (trained by `train --save-members`) together with a previous version's other findings.

    Global sclerosis: the saved members x `tta` dihedral transforms, Platt-scaled, with thresholds t_lo/t_hi. With
    `calibration` (`oof_calibration` of the training centre) Platt and thresholds come from there and the held-out
    centre only measures; without it (v1.2.0) both are fitted on the held-out centre (optimistic). The other eight
    findings: the unchanged network of the model in `keep_from` (its ONNX and card.json), so their outputs,
    thresholds and figures are exactly those of that version.
    """
    import json as _json

    setup_torch(threads, 0)
    ev = evaluate_members(members_file, crops, val_centres, tta=tta, use_members=use_members, calibration=calibration)
    gs, rep, cal, saved, seeds = ev["model"], ev["report"], ev["platt"], ev["saved"], ev["seeds"]
    members = list(gs.members)
    tr_rec, va_rec = ev["train_records"], ev["val_records"]
    Xv = ev["X"]
    old_card = _json.loads((keep_from / "card.json").read_text())
    rest = glomnet_from_onnx(keep_from / "model.onnx")
    rep.pop("thresholds")
    model = GSWithFindings(gs, rest).eval()
    thresholds = dict(old_card["thresholds"])
    metrics = dict(old_card["metrics"])
    train_centres = sorted({r.centre for r in tr_rec})
    if calibration:
        platt = {"a": round(cal[0], 4), "b": round(cal[1], 4),
                 "fitted_on": f"out-of-fold logits of centre(s) {calibration.get('centres')} (slide-grouped "
                              f"{calibration.get('folds')}-fold cross-validation, seeds {calibration.get('seeds')} per fold)"}
        cal_keys: dict[str, Any] = {"platt": platt, "calibration_from_training_centre": calibration}
    else:
        platt = {"a": round(cal[0], 4), "b": round(cal[1], 4), "fitted_on": f"held-out centre(s) {sorted(val_centres)}"}
        cal_keys = {"platt_fitted_on_validation_centre": {"a": platt["a"], "b": platt["b"]}}
    metrics["global_sclerosis"] = {
        "validation": f"real crops, held-out centre(s) {sorted(val_centres)} (slides never trained on"
                      + (", never used to choose calibration or thresholds)" if calibration else ")"), **rep, **cal_keys,
        "kappa_literature": {**KAPPA_LITERATURE["global_sclerosis"], "verified": False}, **(notes or {})}
    out_dir.mkdir(parents=True, exist_ok=True)
    example = to_tensor(Xv[:2])
    export_onnx(model, example, out_dir / "model.onnx", spatial_dynamic=False)
    diff = torch_ort_max_diff(model, out_dir / "model.onnx", to_tensor(Xv[:16]))
    # the figures and thresholds of the card come from onnxruntime on the exported file (what the worker runs):
    # torch and ORT differ by ~1e-4 in the logit, enough to move a crop that sits exactly on a threshold
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    zc = np.concatenate([sess.run(None, {"input": to_tensor(Xv[i : i + 32]).numpy()})[0][:, 0]
                         for i in range(0, len(Xv), 32)]).astype(np.float64)
    yv = np.asarray([r.gs for r in va_rec], np.float64)
    per_seed = rep.get("per_seed_auc")
    zu = (zc - cal[1]) / cal[0]
    rep = gs_report(yv, zu, [r.slide for r in va_rec], cal=cal,
                    thresholds=calibration["thresholds"] if calibration else None)
    rep["per_seed_auc"] = per_seed
    if calibration:
        rep["if_fitted_on_this_centre"] = own_centre_fit(yv, zu, [r.slide for r in va_rec])
    th = rep.pop("thresholds")
    if calibration:
        th = {"t_lo": th["t_lo"], "t_hi": th["t_hi"],
              "rule": f"{th.get('rule')}; chosen on the calibrated out-of-fold probabilities of centre(s) "
                      f"{calibration.get('centres')}, not on {sorted(val_centres)}"}
    thresholds["global_sclerosis"] = th
    metrics["global_sclerosis"] = {**metrics["global_sclerosis"], **rep}
    card = classifier_card(thresholds=thresholds, metrics=metrics, arch=saved["arch"], n_members=len(members), tta=tta,
                           training={
        "real_crops_train": len(tr_rec), "real_crop_train_centres": sorted({r.centre for r in tr_rec}),
        "real_crops_validation": len(va_rec), "real_crop_validation_centres": sorted(val_centres),
        "epochs": saved.get("epochs"), "seeds": seeds,
        "global_sclerosis": {"real_crops_train": len(tr_rec), "real_crop_train_centres": train_centres,
                             "real_crops_validation": len(va_rec), "real_crop_validation_centres": sorted(val_centres),
                             "synthetic_crops_train": 0, "seeds": seeds, "tta_transforms": tta, "platt": platt,
                             "hed_jitter": bool(saved.get("hed"))},
        "other_findings": {"from": f"glom_classifier v{old_card['version']} (network and thresholds unchanged)",
                           **{k: v for k, v in old_card.get("training", {}).items() if k not in ("torch_ort_max_abs_diff",)}},
        "torch_ort_max_abs_diff": diff, **(extra_training or {})})
    card["architecture"] = ("global sclerosis: " + architecture_text(saved["arch"], len(members), tta) +
                            "; other findings: the v" + old_card["version"] + " GlomNet (8 conv layers 16/32/64/96), from scratch")
    write_card(out_dir, card)
    log(f"exported {out_dir / 'model.onnx'} ({(out_dir / 'model.onnx').stat().st_size / 1e6:.2f} MB); "
        f"torch vs ORT max |diff| {diff:.2e}; GS on {sorted(val_centres)}: AUC {rep['auc']} BA@t_hi "
        f"{rep['balanced_accuracy_at_t_hi']} BA@0.5 {rep['balanced_accuracy_at_0.5']} decided {rep.get('balanced_accuracy_decided')} "
        f"indet {rep['indeterminate_fraction']} ECE {rep['calibration']['ece']} LOSO {rep.get('leave_one_slide_out_platt')}")
    return card


def _f(v: Any, nd: int = 3) -> str:
    return "–" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def _confusion(c: dict[str, Any]) -> str:
    return f"tp {c.get('tp')}, fn {c.get('fn')}, tn {c.get('tn')}, fp {c.get('fp')}"


def _gs_line(m: dict[str, Any]) -> str:
    """Figures on a validation centre; wording depends on where Platt and thresholds were chosen."""
    th = m.get("thresholds_used") or {}
    loso = m.get("leave_one_slide_out_platt") or {}
    cal = m.get("calibration_from_training_centre")
    if not cal:  # v1.2.0 way: Platt and thresholds fitted on these crops
        return (f"AUC **{_f(m.get('auc'), 4)}**; balanced accuracy at t_hi ({_f(th.get('t_hi'), 4)}) **{_f(m.get('balanced_accuracy_at_t_hi'))}**, "
                f"at 0.5 without calibration {_f(m.get('uncalibrated_balanced_accuracy_at_0.5'))}, at 0.5 after Platt scaling "
                f"fitted on these crops {_f(m.get('balanced_accuracy_at_0.5'))} (leave-one-slide-out Platt: "
                f"{_f(loso.get('balanced_accuracy_at_0.5'))}), decided only {_f(m.get('balanced_accuracy_decided'))} with "
                f"{_f(m.get('indeterminate_fraction'))} of crops indeterminate (between t_lo {_f(th.get('t_lo'), 4)} and t_hi); "
                f"ECE {_f(m.get('uncalibrated_ece'))} uncalibrated, {_f((m.get('calibration') or {}).get('ece'))} after Platt "
                f"(in-sample), {_f(loso.get('ece'))} leave-one-slide-out; per-seed AUC {m.get('per_seed_auc')}")
    src = f"{cal.get('centres')} out-of-fold"
    c = m.get("confusion_at_t_hi") or {}
    own = m.get("if_fitted_on_this_centre") or {}
    own_th = own.get("thresholds") or {}
    cb = m.get("confusion_at_t_balanced") or {}
    return (f"AUC **{_f(m.get('auc'), 4)}**; balanced accuracy at t_hi ({_f(th.get('t_hi'), 4)}, chosen on {src}) "
            f"**{_f(m.get('balanced_accuracy_at_t_hi'))}** (confusion {_confusion(c)}); at 0.5 after the {src} Platt scaling **{_f(m.get('balanced_accuracy_at_0.5'))}**, at 0.5 "
            f"without calibration {_f(m.get('uncalibrated_balanced_accuracy_at_0.5'))}; decided only "
            f"{_f(m.get('balanced_accuracy_decided'))} with {_f(m.get('indeterminate_fraction'))} of crops indeterminate "
            f"(between t_lo {_f(th.get('t_lo'), 4)} and t_hi); at the {src} max-balanced-accuracy cut "
            f"({_f(th.get('t_balanced'), 4)}, not used by the worker) {_f(m.get('balanced_accuracy_at_t_balanced'))} "
            f"({_confusion(cb)}); ECE "
            f"{_f((m.get('calibration') or {}).get('ece'))} with the {src} Platt, {_f(m.get('uncalibrated_ece'))} "
            f"uncalibrated. For comparison only (not shipped), fitting Platt and thresholds on these same crops would give "
            f"BA {_f(own.get('balanced_accuracy_at_0.5'))} at 0.5 and {_f(own.get('balanced_accuracy_at_t_hi'))} at its own "
            f"t_hi ({_f(own_th.get('t_hi'), 4)}), leave-one-slide-out Platt {_f(loso.get('balanced_accuracy_at_0.5'))} at 0.5; "
            f"per-seed AUC {m.get('per_seed_auc')}")


def _oof_line(cal: dict[str, Any]) -> str:
    o = cal.get("out_of_fold") or {}
    th = cal.get("thresholds") or {}
    return (f"slide-grouped {cal.get('folds')}-fold cross-validation within centre(s) {cal.get('centres')} only "
            f"({o.get('n')} crops, {o.get('n_pos')} GS, {cal.get('slides')} slides; slides dealt to folds round robin in "
            f"sorted order), the shipped members' recipe ({cal.get('arch')}, {cal.get('epochs')} epochs"
            f"{', HED-space stain jitter' if cal.get('hed') else ''}), one network per "
            f"seed {cal.get('seeds')} and fold, out-of-fold logit = mean over those networks x {cal.get('tta')} transforms "
            f"(as shipped). On the pooled out-of-fold logits: Platt a = {cal.get('a')}, b = {cal.get('b')} (log loss); "
            f"t_lo = {th.get('t_lo')} and t_hi = {th.get('t_hi')} by the card's rules on the calibrated out-of-fold "
            f"probabilities; max-balanced-accuracy cut {th.get('t_balanced')} (reported, not used by the worker). "
            f"Out-of-fold figures (Platt in-sample here): AUC {_f(o.get('auc'), 4)}, balanced accuracy at 0.5 "
            f"{_f(o.get('balanced_accuracy_at_0.5'))}, at t_hi {_f(o.get('balanced_accuracy_at_t_hi'))}, decided only "
            f"{_f(o.get('balanced_accuracy_decided'))} with {_f(o.get('indeterminate_fraction'))} indeterminate, at the "
            f"max-BA cut {_f(o.get('balanced_accuracy_at_t_balanced'))}, ECE {_f((o.get('calibration') or {}).get('ece'))}")


def _oof_figures(o: dict[str, Any]) -> str:
    return (f"AUC {_f(o.get('auc'), 4)}, balanced accuracy at its own t_hi ({_f(o.get('t_hi'), 4)}) "
            f"{_f(o.get('balanced_accuracy_at_t_hi'), 4)}, at 0.5 {_f(o.get('balanced_accuracy_at_0.5'), 4)}, decided only "
            f"{_f(o.get('balanced_accuracy_decided'), 4)} with {_f(o.get('indeterminate_fraction'))} indeterminate, ECE "
            f"{_f(o.get('ece'))}; Platt a = {o.get('a')}, b = {o.get('b')}, t_lo {o.get('t_lo')}")


def _trial_line(t: dict[str, Any]) -> str:
    """A pre-registered recipe trial: what was tried, the rule, the out-of-fold figures and the decision."""
    cand, ship = t.get("candidate_oof") or {}, t.get("shipped_oof") or {}
    return (f"- **Recipe trial: {t.get('name')}** (rule written down {t.get('pre_registered')}, before the candidate was "
            f"run). Candidate: {t.get('candidate')}. Rule: {t.get('rule')} Out of fold within {t.get('centres')} "
            f"({t.get('cross_validation')}), candidate: {_oof_figures(cand)}; per-fold AUC by seed "
            f"{cand.get('fold_auc_per_seed')}. Shipped recipe, same folds and seeds: {_oof_figures(ship)}. "
            f"**Decision: {'adopted' if t.get('adopted') else 'not adopted'}.** {t.get('note', '')}".rstrip())


def classifier_md_extra(card: dict[str, Any]) -> str:
    """CARD.md section on how global sclerosis was trained and measured (every figure read from card.json)."""
    gs = card["metrics"]["global_sclerosis"]
    tr = card.get("training", {})
    g = tr.get("global_sclerosis", {})
    rev = gs.get("reverse_direction") or {}
    cv = gs.get("slide_grouped_cross_validation") or {}
    prevs = gs.get("previous_versions") or ([gs["previous_version"]] if gs.get("previous_version") else [])
    timing = tr.get("classification_time_140_crops") or {}
    cal = gs.get("calibration_from_training_centre")
    platt = g.get("platt") or {**g.get("platt_on_validation_centre", {}), "fitted_on": "the held-out centre"}
    shipped = {**gs, "thresholds_used": {**card["thresholds"]["global_sclerosis"],
                                         **({"t_balanced": cal["thresholds"].get("t_balanced")} if cal else {})}}
    lines = ["## Global sclerosis: recipe and figures (read this before trusting the table)", "",
             (f"- **Recipe.** {len(g.get('seeds', []))} networks (seeds {g.get('seeds')}) trained from scratch on the real "
              f"crops of centre(s) {g.get('real_crop_train_centres')} only ({g.get('real_crops_train')} crops; no synthetic "
              f"crops), {tr.get('epochs')} epochs, optical-density stain jitter plus white-balance/contrast/gamma/saturation "
              "jitter" + (", then HED-space stain jitter (haematoxylin/eosin/residual concentrations each scaled by "
                          "U(0.85, 1.15) and shifted by U(−0.05, 0.05))" if (tr.get("global_sclerosis_recipe") or {}).get("hed")
                          else "") +
              ", random diameter 150–250 µm, aspect and offset. Inside the ONNX graph: per-image stain normalisation "
              f"({norm_text(str((tr.get('global_sclerosis_recipe') or {}).get('arch', 'glomnet_n64')))}), 2×2 average "
              "pooling (the networks see 64² px at "
              f"4 µm/px), {g.get('tta_transforms')} dihedral test-time transform(s), logits averaged over networks and "
              f"transforms, then Platt scaling a·z + b (a = {platt.get('a')}, b = {platt.get('b')}) fitted on "
              f"{platt.get('fitted_on')}. The serving pipeline is unchanged (same µm/px, crop and normalisation in the card)."),
             ]
    if gs.get("recalibration_note"):
        lines.append(f"- **What changed in {card.get('version')}.** {gs['recalibration_note']}")
    if cal:
        lines.append(f"- **Calibration and thresholds, chosen without {g.get('real_crop_validation_centres')}:** "
                     + _oof_line(cal) + ".")
    if gs.get("decision_note"):
        lines.append(f"- **Rule, fixed before the recalibrated model was measured on {g.get('real_crop_validation_centres')}.** "
                     f"{gs['decision_note']}")
    lines.append(f"- **Shipped model, train {g.get('real_crop_train_centres')} → validate {g.get('real_crop_validation_centres')}** "
                 f"({gs.get('n')} crops, {gs.get('n_pos')} GS, slides never trained on"
                 + (", never used to choose calibration or thresholds" if cal else "") + "): " + _gs_line(shipped) + ".")
    if rev:
        rcal = rev.get("calibration_from_training_centre")
        rline = {**rev, "thresholds_used": rev.get("thresholds_used") or rev.get("thresholds") or {}}
        if rcal:
            rline["thresholds_used"] = {**rline["thresholds_used"], "t_balanced": rcal["thresholds"].get("t_balanced")}
        lines.append(f"- **Reverse direction, {rev.get('recipe_note', 'same recipe')}, a separate model (not shipped): "
                     f"train {rev.get('train_centres')} → "
                     f"validate {rev.get('validation_centres')}** ({rev.get('n')} crops, {rev.get('n_pos')} GS; "
                     + (f"Platt and thresholds from {rcal.get('centres')}-internal cross-validation: " + _oof_line(rcal)
                        + ". On the validation centre: " if rcal else "thresholds and Platt chosen on the validation centre): ")
                     + _gs_line(rline) + ".")
    if cv:
        lines.append("- **Slide-grouped cross-validation over both centres** (real crops only, "
                     f"{cv.get('folds')} folds, each fold holding slides of both centres, 1 seed, {cv.get('tta')} transforms, "
                     "no calibration" + (f"; {cv['recipe_note']}" if cv.get("recipe_note") else "") + "): out-of-fold "
                     + "; ".join(
                         f"{k}: AUC {v.get('auc')}, balanced accuracy at 0.5 {v.get('balanced_accuracy_at_0.5')}, ECE {v.get('ece')}"
                         for k, v in cv.items() if isinstance(v, dict) and "auc" in v) + ".")
    for prev in prevs:
        lines.append(f"- **Previous version** {prev.get('version')} on the same SAS crops: AUC {prev.get('auc')}, balanced "
                     f"accuracy at t_hi {prev.get('balanced_accuracy_at_t_hi')}, at 0.5 {prev.get('balanced_accuracy_at_0.5')}, "
                     f"ECE {prev.get('ece')}" + (f"; {prev['note']}" if prev.get("note") else "") + ".")
    if gs.get("selection_note"):
        lines.append(f"- **How the recipe was chosen.** {gs['selection_note']}")
    for trial in gs.get("recipe_trials") or []:
        lines.append(_trial_line(trial))
    if gs.get("pipeline_path_note"):
        lines.append(f"- **Through the slide pipeline (real crops composited into synthetic slides).** {gs['pipeline_path_note']}")
    if gs.get("target_note"):
        lines.append(f"- **Target** (AUC ≥ 0.97 and balanced accuracy ≥ 0.93 on real crops from slides not used in training). "
                     f"{gs['target_note']}")
    if timing:
        lines.append(f"- **Compute.** {timing.get('note')}")
    if cal:
        lines.append("- Thresholds: t_hi is the lowest cut whose *present* calls are ≥ 90 % precise and t_lo keeps ≥ 95 % of "
                     f"positives above it, both chosen on out-of-fold predictions of {cal.get('centres')} (networks that did "
                     "not see those slides, but fewer training crops than the shipped networks, which saw all of "
                     f"{cal.get('centres')}), so the figures on {g.get('real_crop_validation_centres')} are not tuned on it; "
                     "AUC is threshold-free. Platt scaling changes the probabilities (and the 0.5 cut), not the ranking.")
    else:
        lines.append("- Thresholds: t_hi is the lowest cut whose *present* calls are ≥ 90 % precise and t_lo keeps ≥ 95 % of "
                     "positives above it, both chosen on the held-out centre, so the balanced accuracy at t_hi on that centre is "
                     "optimistic; AUC is threshold-free. Platt scaling changes the probabilities (and the 0.5 cut), not the ranking.")
    lines += [("- Real crops are bbox-resized to 224² (scale lost); the classifier assumes 200 µm across at 2 µm/px and "
              "reflect-pads the frame. In the pipeline, real tissue surrounds the glomerulus instead — a domain shift that "
              "has not been measured on real whole slides. The crop labels have not been re-checked by a pathologist here."),
              "",
              "## The other eight findings",
              "",
              (f"Taken from {(tr.get('other_findings') or {}).get('from', '?')}: the same network and thresholds, carried "
               "into this graph weight for weight (torch↔ONNX agreement is tested), so their outputs and the figures in the "
               "table are those of that version: trained and validated on synthetic glomeruli only (as few as 1–10 positives "
               "per finding; `t_hi = 1.0` means never called present at the precision target). Placeholders.")]
    return "\n".join(lines)


def render_md(model_dir: Path) -> str:
    """CARD.md = report.render_card_md + the classifier section above."""
    from models.training.report import render_card_md

    card = json.loads((model_dir / "card.json").read_text())
    return render_card_md(model_dir, extra=classifier_md_extra(card))


def _main() -> None:
    """`python -m models.training.classifier train|crossval ...`: the options `glomcheck train classifier` lacks."""
    import click

    @click.group()
    def cli() -> None:
        pass

    @cli.command()
    @click.option("--slides", "slides", multiple=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--crops", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None)
    @click.option("--train-centre", multiple=True)
    @click.option("--val-centre", multiple=True)
    @click.option("--val-slides", multiple=True, type=click.Path(exists=True, path_type=Path))
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                  default=Path(__file__).resolve().parents[1] / "glom_classifier")
    @click.option("--epochs", type=int, default=40)
    @click.option("--seed", "seeds", type=int, multiple=True, help="Repeat: one ensemble member per seed.")
    @click.option("--threads", type=int, default=1)
    @click.option("--no-export", is_flag=True)
    @click.option("--strong-stain", type=click.Choice(["off", "all", "real"]), default="real")
    @click.option("--arch", type=click.Choice(["glomnet", "glomnet_n", "glomnet_n64", "glomnet_g64"]), default="glomnet_n")
    @click.option("--hed/--no-hed", default=False)
    @click.option("--label-smoothing", type=float, default=0.0)
    @click.option("--tta", type=click.Choice(["1", "2", "4", "8"]), default="8")
    @click.option("--calibrate/--no-calibrate", default=True)
    @click.option("--save-members", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="torch.save the members' state_dicts here (to compose the shipped graph later).")
    def train(slides: tuple[Path, ...], crops: Path | None, train_centre: tuple[str, ...], val_centre: tuple[str, ...],
              val_slides: tuple[Path, ...], out: Path, epochs: int, seeds: tuple[int, ...], threads: int,
              no_export: bool, strong_stain: str, arch: str, hed: bool, label_smoothing: float, tta: str,
              calibrate: bool, save_members: Path | None) -> None:
        r = train_classifier(slides=list(slides), crops=crops, train_centres=set(train_centre),
                             val_centres=set(val_centre), val_slides=list(val_slides), out_dir=out, epochs=epochs,
                             seeds=list(seeds) or [0], threads=threads, export=not no_export, strong_stain=strong_stain,
                             arch=arch, hed=hed, label_smoothing=label_smoothing, tta=int(tta), calibrate=calibrate,
                             log=click.echo)
        gs = r["metrics"]["global_sclerosis"]
        click.echo(json.dumps({"val_centres": r["val_centres"], "per_seed_auc": r["per_seed_auc"], "platt": r["platt"],
                               **{k: gs.get(k) for k in ("auc", "balanced_accuracy_at_t_hi", "balanced_accuracy_at_0.5",
                                                         "balanced_accuracy_decided", "indeterminate_fraction",
                                                         "uncalibrated_ece", "leave_one_slide_out_platt")},
                               "ece": gs["calibration"]["ece"]}))
        if save_members:
            torch.save({"arch": arch, "seeds": list(seeds) or [0], "tta": int(tta), "platt": r["platt"], "epochs": epochs,
                        "strong_stain": strong_stain, "hed": hed, "label_smoothing": label_smoothing,
                        "members": [m.state_dict() for m in r["model"].members]}, save_members)

    @cli.command()
    @click.option("--crops", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True)
    @click.option("--folds", type=int, default=5)
    @click.option("--epochs", type=int, default=40)
    @click.option("--seed", "seeds", type=int, multiple=True, help="Repeat: one network per seed and fold.")
    @click.option("--centre", "centres", multiple=True, help="Only the crops of these centres (default: all).")
    @click.option("--arch", type=click.Choice(["glomnet", "glomnet_n", "glomnet_n64", "glomnet_g64"]), default="glomnet_n")
    @click.option("--strong-stain", type=click.Choice(["off", "all", "real"]), default="real")
    @click.option("--hed/--no-hed", default=False)
    @click.option("--tta", type=click.Choice(["1", "2", "4", "8"]), default="8")
    @click.option("--threads", type=int, default=1)
    @click.option("--save", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Write the out-of-fold logits (.npz) here after every fold.")
    def crossval(crops: Path, folds: int, epochs: int, seeds: tuple[int, ...], centres: tuple[str, ...], arch: str,
                 strong_stain: str, hed: bool, tta: str, threads: int, save: Path | None) -> None:
        crossval_gs(crops, folds=folds, epochs=epochs, seeds=list(seeds) or [0], centres=set(centres) or None, arch=arch,
                    strong_stain=strong_stain, hed=hed, tta=int(tta), threads=threads, save=save, log=click.echo)

    @cli.command()
    @click.option("--members", "members_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
    @click.option("--keep-from", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
                  help="Folder with the previous model.onnx + card.json whose other findings are kept.")
    @click.option("--crops", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True)
    @click.option("--val-centre", multiple=True, required=True)
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                  default=Path(__file__).resolve().parents[1] / "glom_classifier")
    @click.option("--tta", type=click.Choice(["1", "2", "4", "8"]), default="8")
    @click.option("--use-member", type=int, multiple=True)
    @click.option("--notes", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                  help="JSON merged into metrics.global_sclerosis (reverse direction, cross-validation, ...).")
    @click.option("--calibration", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                  help="JSON from `oof-calibration` (Platt a, b and thresholds chosen on the training centre); "
                       "without it both are fitted on the validation centre.")
    @click.option("--extra-training", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                  help="JSON merged into the card's training block (recipe, timing, ...).")
    def ship(members_file: Path, keep_from: Path, crops: Path, val_centre: tuple[str, ...], out: Path, tta: str,
             use_member: tuple[int, ...], notes: Path | None, calibration: Path | None, extra_training: Path | None) -> None:
        ship_composed(members_file=members_file, keep_from=keep_from, crops=crops, val_centres=set(val_centre),
                      out_dir=out, tta=int(tta), use_members=list(use_member) or None,
                      notes=json.loads(notes.read_text()) if notes else None,
                      calibration=json.loads(calibration.read_text()) if calibration else None,
                      extra_training=json.loads(extra_training.read_text()) if extra_training else None, log=click.echo)

    @cli.command("oof-calibration")
    @click.option("--oof", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True,
                  help="The .npz written by `crossval --save` on the training centre only (repeat: same folds, "
                       "other seeds, pooled).")
    @click.option("--seed", "seeds", type=int, multiple=True, help="Only these seeds (default: all complete ones).")
    def oof_calibration_cmd(oof: tuple[Path, ...], seeds: tuple[int, ...]) -> None:
        """Platt (a, b), t_lo/t_hi (card rules) and the max-balanced-accuracy cut on out-of-fold logits, as JSON."""
        click.echo(json.dumps(oof_calibration(list(oof), seeds=list(seeds) or None)))

    @cli.command("members-from-onnx")
    @click.option("--onnx", "onnx_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
    @click.option("--arch", type=click.Choice(["glomnet_n", "glomnet_n64", "glomnet_g64"]), default="glomnet_n64")
    @click.option("--seed", "seeds", type=int, multiple=True, required=True, help="The members' seeds, in order.")
    @click.option("--epochs", type=int, required=True)
    @click.option("--strong-stain", type=click.Choice(["off", "all", "real"]), default="real")
    @click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
    def members_from_onnx(onnx_path: Path, arch: str, seeds: tuple[int, ...], epochs: int, strong_stain: str,
                          out: Path) -> None:
        """Recover the GS members of a shipped composed graph as a `--save-members` file (to recalibrate them)."""
        members, cal = gs_members_from_onnx(onnx_path, arch)
        if len(members) != len(seeds):
            raise click.ClickException(f"{len(members)} members in {onnx_path}, {len(seeds)} seeds given")
        torch.save({"arch": arch, "seeds": list(seeds), "epochs": epochs, "strong_stain": strong_stain, "hed": False,
                    "label_smoothing": 0.0, "platt": (cal["cal_a"][0], cal["cal_b"][0]), "from_onnx": str(onnx_path),
                    "members": [m.state_dict() for m in members]}, out)
        click.echo(f"{len(members)} members -> {out}")

    @cli.command("evaluate")
    @click.option("--members", "members_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), required=True)
    @click.option("--crops", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True)
    @click.option("--val-centre", multiple=True, required=True)
    @click.option("--tta", type=click.Choice(["1", "2", "4", "8"]), default="8")
    @click.option("--use-member", type=int, multiple=True)
    @click.option("--calibration", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
                  help="JSON from `oof-calibration`: Platt and thresholds chosen elsewhere (else fitted on the centre).")
    def evaluate_cmd(members_file: Path, crops: Path, val_centre: tuple[str, ...], tta: str, use_member: tuple[int, ...],
                     calibration: Path | None) -> None:
        """Figures of saved members on a held-out centre (e.g. the reverse direction), as one JSON line."""
        setup_torch(1, 0)
        cal = json.loads(calibration.read_text()) if calibration else None
        ev = evaluate_members(members_file, crops, set(val_centre), tta=int(tta), use_members=list(use_member) or None,
                              calibration=cal)
        rep = ev["report"]
        rep["train_centres"] = sorted({r.centre for r in ev["train_records"]})
        rep["validation_centres"] = sorted(val_centre)
        rep["seeds"] = ev["seeds"]
        rep["tta_transforms"] = int(tta)
        if cal:
            rep["platt"] = {"a": round(ev["platt"][0], 4), "b": round(ev["platt"][1], 4), "fitted_on": "training centre OOF"}
            rep["calibration_from_training_centre"] = cal
            rep["thresholds_used"] = rep.pop("thresholds")
        else:
            rep["platt_fitted_on_validation_centre"] = {"a": round(ev["platt"][0], 4), "b": round(ev["platt"][1], 4)}
        click.echo(json.dumps(rep))

    @cli.command("card-md")
    @click.option("--out", type=click.Path(file_okay=False, exists=True, path_type=Path),
                  default=Path(__file__).resolve().parents[1] / "glom_classifier")
    def card_md(out: Path) -> None:
        """Render CARD.md from card.json."""
        render_md(out)

    cli()


if __name__ == "__main__":
    _main()
