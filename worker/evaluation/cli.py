"""`glomcheck evaluate` and `glomcheck evaluate-crops`; each ends with one JSON line of headline figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _classifier_thresholds(models_dir: Path | None) -> dict[str, Any]:
    from worker.pipeline.models import CLASSIFIER, MODELS_DIR, read_card

    try:
        return dict(read_card((models_dir or MODELS_DIR) / CLASSIFIER)["thresholds"])
    except Exception:  # noqa: BLE001 - evaluation still works with 0.5 cuts
        return {}


@click.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fields", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Instead: score the detector on real fields (images/ + masks/, e.g. shared/data/fields/aidpath-pas).")
@click.option("--field-mpp", type=float, default=0.5, show_default=True, help="µm/px of the --fields images.")
@click.option("--split", type=click.Choice(["all", "train", "heldout"]), default="all", show_default=True,
              help="Fixed half of --fields (sorted names; first half = train, second = heldout).")
@click.option("--models-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None)
def evaluate(files: tuple[Path, ...], fields: Path | None, field_mpp: float, split: str,
             models_dir: Path | None) -> None:
    """Detection P/R/F1 at IoU ≥ 0.5 and per-finding AUC/F1/balanced accuracy of PRED.json (from `analyze --json`)
    vs TRUTH.geojson; several PRED TRUTH pairs (one per slide) are scored pooled."""
    if fields is not None:
        from worker.evaluation.fields import evaluate_fields
        from worker.pipeline.models import DETECTOR, load_model

        det = load_model(DETECTOR, models_dir=models_dir)
        r = evaluate_fields(fields, det, field_mpp=field_mpp, split=split)
        for row in r["per_field"]:
            click.echo(f"{row['field']:>12}  truth {row['n_truth']}  pred {row['n_pred']}  "
                       f"tp {row['tp']} fp {row['fp']} fn {row['fn']}  |  visible: truth {row['visible_n_truth']}  "
                       f"tp {row['visible_tp']} fp {row['visible_fp']} fn {row['visible_fn']}")
        click.echo(f"fields ({split}): {r['fields']}  precision {r['precision']:.3f}  recall {r['recall']:.3f}  F1 {r['f1']:.3f} "
                   f"on {r['scorable']} scorable glomeruli (edge-cut glomeruli = don't care: {r['dont_care']})")
        click.echo(f"visible part ({split}): precision {r['visible_precision']:.3f}  recall {r['visible_recall']:.3f}  "
                   f"F1 {r['visible_f1']:.3f} on {r['visible_scorable']} scorable glomeruli (edge-cut regions of "
                   f"≥ {r['visible_min_area_px']:.0f} field px scored on their visible part; smaller slivers don't care: "
                   f"{r['visible_dont_care']})")
        from worker.evaluation.mosaics import evaluate_mosaics

        mo = evaluate_mosaics(fields, split=split, field_mpp=field_mpp, models_dir=models_dir)
        for g in mo["groups"]:
            click.echo(f"{'+'.join(n.removesuffix('.png') for n in g['fields']):>40}  whole {g['scorable']}  "
                       f"pred {g['n_pred']}  tp {g['tp']} fp {g['fp']} fn {g['fn']}  ({g['seconds']} s)")
        click.echo(f"stitched tissue ({split}): precision {mo['precision']:.3f}  recall {mo['recall']:.3f}  F1 {mo['f1']:.3f} "
                   f"on {mo['scorable']} whole glomeruli in {len(mo['groups'])} groups of neighbouring fields, whole "
                   f"pipeline (cut by the stitched tissue's edge or reaching into the other half = don't care: "
                   f"{mo['dont_care']})")
        click.echo(json.dumps({"task": "detection_fields", "precision": r["precision"], "recall": r["recall"],
                               "f1": r["f1"], "tp": r["tp"], "fp": r["fp"], "fn": r["fn"],
                               "split": split, "fields": r["fields"], "detector": det.describe()["version"],
                               "scorable": r["scorable"], "dont_care": r["dont_care"],
                               **{k: r[k] for k in ("visible_precision", "visible_recall", "visible_f1", "visible_tp",
                                                    "visible_fp", "visible_fn", "visible_scorable", "visible_dont_care",
                                                    "visible_min_area_px")},
                               **{f"mosaic_{k}": mo[k] for k in ("precision", "recall", "f1", "tp", "fp", "fn",
                                                                 "duplicates", "scorable", "dont_care")},
                               "mosaic_groups": len(mo["groups"])}))
        return
    if not files or len(files) % 2:
        raise click.UsageError("give PRED.json TRUTH.geojson (one pair per slide, pooled), or --fields DIR")
    from worker.evaluation.detection import evaluate_predictions

    items = []
    for pred, truth in zip(files[::2], files[1::2]):
        try:
            d = json.loads(pred.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"{pred} is not the JSON of `glomcheck analyze --json`: {exc}") from exc
        if not isinstance(d, dict) or not isinstance(d.get("glomeruli"), list):
            raise click.BadParameter(f"{pred} is not the JSON of `glomcheck analyze --json`: it has no 'glomeruli' list")
        items.append((d, truth))
    r = evaluate_predictions(items, thresholds=_classifier_thresholds(models_dir))
    det = r["detection"]
    if len(items) > 1:
        click.echo(f"pooled over {len(items)} slides")
    click.echo(f"detection @IoU≥0.5: precision {det['precision']:.3f} recall {det['recall']:.3f} F1 {det['f1']:.3f} "
               f"(tp {det['tp']} fp {det['fp']} fn {det['fn']} duplicates {det['duplicates']}, mean IoU {det['mean_iou']})")
    for k, v in r["findings"].items():
        click.echo(f"  {k:<32} n {v['n']:3d} pos {v['n_pos']:3d}  AUC {v['auc']}  F1@t_hi {v['f1']}  "
                   f"balanced acc@t_hi {v['balanced_accuracy']}")
    head = {"task": "detection", "precision": det["precision"], "recall": det["recall"], "f1": det["f1"],
            "duplicates": det["duplicates"], "n_truth": det["n_truth"],
            "slides": det["slides"], "auc": {k: v["auc"] for k, v in r["findings"].items()},
            "balanced_accuracy": {k: v["balanced_accuracy"] for k, v in r["findings"].items()}}
    click.echo(json.dumps(head))


@click.command("evaluate-crops")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--models-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None)
def evaluate_crops(directory: Path, models_dir: Path | None) -> None:
    """Classify crops laid out like shared/data/glomeruli; global sclerosis per centre and overall."""
    import numpy as np

    from models.training.data import read_crop_folder
    from worker.evaluation.crops import crop_inputs
    from worker.evaluation.metrics import auc, balanced_accuracy, calibration, confusion
    from worker.pipeline.models import CLASSIFIER, load_model
    from worker.pipeline.post import classify_crops

    cls = load_model(CLASSIFIER, models_dir=models_dir)
    recs = read_crop_folder(directory)
    if not recs:
        raise click.ClickException(f"no crops found under {directory}")
    X = crop_inputs([r.image for r in recs], mpp=float(cls.card["input"]["mpp"]), size=int(cls.card["input"]["crop"]))
    j = list(cls.card["classes"]).index("global_sclerosis")
    p = classify_crops(cls, X)[:, j].astype(np.float64)
    y = np.asarray([r.gs for r in recs], np.float64)
    th = cls.card["thresholds"]["global_sclerosis"]
    out: dict[str, Any] = {}
    groups = sorted({r.centre for r in recs}) + ["overall"]
    for g in groups:
        m = np.asarray([g == "overall" or r.centre == g for r in recs])
        yy, pp = y[m], p[m]
        a = auc(yy, pp)
        ba = balanced_accuracy(yy, pp >= float(th["t_hi"]))
        ba5 = balanced_accuracy(yy, pp >= 0.5)
        indet_m = (pp >= th["t_lo"]) & (pp < th["t_hi"])
        indet = float(indet_m.mean())
        bad = balanced_accuracy(yy[~indet_m], pp[~indet_m] >= float(th["t_hi"])) if (~indet_m).any() else None
        out[g] = {"n": int(m.sum()), "n_gs": int(yy.sum()), "auc": None if a is None else round(a, 4),
                  "balanced_accuracy": None if ba is None else round(ba, 4),
                  "balanced_accuracy_at_0.5": None if ba5 is None else round(ba5, 4),
                  "balanced_accuracy_decided": None if bad is None else round(bad, 4),
                  "indeterminate_fraction": round(indet, 4), "confusion_at_t_hi": confusion(yy, pp >= float(th["t_hi"])),
                  "ece": calibration(yy, pp)["ece"]}
        c = out[g]["confusion_at_t_hi"]
        click.echo(f"{g:>8}: n {out[g]['n']:3d} (GS {out[g]['n_gs']:3d})  AUC {out[g]['auc']}  "
                   f"balanced acc {out[g]['balanced_accuracy']} (at t_hi={th['t_hi']}; at 0.5: {out[g]['balanced_accuracy_at_0.5']}; "
                   f"decided only, {indet:.1%} indeterminate excluded: {out[g]['balanced_accuracy_decided']})  "
                   f"confusion [[tn {c['tn']} fp {c['fp']}] [fn {c['fn']} tp {c['tp']}]]  ECE {out[g]['ece']}")
    click.echo("note: crops whose slides/centre were used to train this model give optimistic figures; "
               f"the card says the model trained on centre(s) {cls.card.get('training', {}).get('real_crop_train_centres')}.")
    click.echo(json.dumps({"task": "global_sclerosis_crops", "classifier": cls.version,
                           **{g: {k: out[g][k] for k in ("n", "auc", "balanced_accuracy", "balanced_accuracy_at_0.5",
                                                                 "balanced_accuracy_decided")} for g in groups}}))
