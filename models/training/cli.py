"""`glomcheck train detector|classifier`: train from scratch with torch (train extra) and export ONNX."""

from __future__ import annotations

from pathlib import Path

import click

REPO_MODELS = Path(__file__).resolve().parents[1]


@click.group()
def train() -> None:
    """Train the glomerulus models (needs `pip install glomcheck[train]`)."""


@train.command()
@click.argument("slides", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=REPO_MODELS / "glom_detector",
              show_default=True)
@click.option("--steps", type=int, default=500, show_default=True)
@click.option("--batch", type=int, default=12, show_default=True)
@click.option("--per-slide", type=int, default=120, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--fields", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Real fields (images/ + masks/) whose fixed 'train' half is added to training.")
@click.option("--field-mpp", type=float, default=0.5, show_default=True)
@click.option("--per-field", type=int, default=60, show_default=True, help="Patches per real field and scale.")
@click.option("--real-batch", type=int, default=6, show_default=True, help="Real-field patches added to each batch.")
@click.option("--exclude-field", multiple=True, help="Field file name left out of training (repeatable).")
@click.option("--edge-cut", type=click.Choice(["dont_care", "visible", "stitched"]), default="dont_care",
              show_default=True,
              help="Real glomeruli cut by the field edge: masked out of the loss (v1.2.0), their visible part "
                   "trained on like a whole glomerulus, or the fields stitched into their groups first (only the "
                   "group's outer edge cuts; --per-field is then per field of a group).")
def detector(slides: tuple[Path, ...], out: Path, steps: int, batch: int, per_slide: int, seed: int, threads: int,
             fields: Path | None, field_mpp: float, per_field: int, real_batch: int, exclude_field: tuple[str, ...],
             edge_cut: str) -> None:
    """Train the detector on SLIDES (files or folders; each slide with a same-named QuPath .geojson)."""
    from models.training.detector import train_detector

    train_detector(list(slides), out, steps=steps, batch=batch, per_slide=per_slide, seed=seed, threads=threads,
                   fields=fields, field_mpp=field_mpp, per_field=per_field, real_batch=real_batch,
                   exclude_fields=exclude_field, edge_cut=edge_cut, log=click.echo)


@train.command()
@click.option("--slides", "slides", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Slides (or folders) with QuPath .geojson carrying finding labels.")
@click.option("--crops", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Real crops laid out like shared/data/glomeruli (global sclerosis labels).")
@click.option("--train-centre", multiple=True, help="Centres of --crops used for training (default: all but --val-centre).")
@click.option("--val-centre", multiple=True, help="Centres of --crops kept apart to choose thresholds.")
@click.option("--val-slides", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Held-out slides for the synthetic findings' thresholds and metrics.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=REPO_MODELS / "glom_classifier",
              show_default=True)
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--no-export", is_flag=True, help="Train and report only (e.g. the reverse centre direction).")
@click.option("--strong-stain", type=click.Choice(["off", "all", "real"]), default="off", show_default=True,
              help="Add white-balance/contrast/gamma/saturation jitter to the stain augmentation of all crops, "
                   "or of the real crops only (synthetic crops keep the standard augmentation).")
def classifier(slides: tuple[Path, ...], crops: Path | None, train_centre: tuple[str, ...], val_centre: tuple[str, ...],
               val_slides: tuple[Path, ...], out: Path, epochs: int, seed: int, threads: int, no_export: bool,
               strong_stain: str) -> None:
    """Train the multi-label glomerulus classifier; thresholds are chosen on the held-out centre/slides."""
    from models.training.classifier import train_classifier

    train_classifier(slides=list(slides), crops=crops, train_centres=set(train_centre), val_centres=set(val_centre),
                     val_slides=list(val_slides), out_dir=out, epochs=epochs, seed=seed, threads=threads,
                     export=not no_export, strong_stain=strong_stain, log=click.echo)


from models.training.proteinuria import proteinuria as _proteinuria  # noqa: E402  (numpy only, no torch)

train.add_command(_proteinuria)


@train.command("card")
@click.option("--val-slides", multiple=True, type=click.Path(exists=True, path_type=Path), required=True,
              help="Held-out slides (with .geojson) for the detector's figures.")
@click.option("--fields", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Real fields (images/ + masks/) to check the detector in real tissue.")
@click.option("--fields-split", type=click.Choice(["all", "train", "heldout"]), default="all", show_default=True,
              help="Half of --fields to score (a detector trained on the 'train' half must be scored on 'heldout').")
@click.option("--models-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None)
def card(val_slides: tuple[Path, ...], fields: Path | None, fields_split: str, models_dir: Path | None) -> None:
    """Measure the shipped ONNX detector on held-out data, store the figures in its card, render both CARD.md."""
    import json

    from models.training.report import detector_metrics, render_card_md, update_detector_card
    from worker.pipeline.models import CLASSIFIER, DETECTOR, MODELS_DIR

    m = detector_metrics(list(val_slides), fields, models_dir=models_dir, fields_split=fields_split, log=click.echo)
    update_detector_card(m, models_dir)
    base = models_dir or MODELS_DIR
    render_card_md(base / DETECTOR)
    render_card_md(base / CLASSIFIER)
    click.echo(json.dumps({"all": m["held_out_synthetic"]["by_stain_and_kind"]["all"],
                           "fields": m.get("real_fields_aidpath_pas")}))
