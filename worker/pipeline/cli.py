"""`glomcheck analyze SLIDE`: run the pipeline on a file, without the server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.argument("slide", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--mpp", type=float, default=None, help="Level-0 µm/px, for slides that do not state it (or to override).")
@click.option("--geojson", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write QuPath-compatible GeoJSON here.")
@click.option("--stain", type=click.Choice(["pas", "pam", "mt", "he"]), default=None,
              help="The slide's stain; the marker-ink rule is stricter for MT and when this is not given.")
@click.option("--models-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Folder with glom_detector/ and glom_classifier/ (default: the shipped models).")
def analyze(slide: Path, as_json: bool, mpp: float | None, geojson: Path | None, stain: str | None,
            models_dir: Path | None) -> None:
    """Find and grade the glomeruli of SLIDE."""
    from app.slides.reader import SlideReader, SlideReadError
    from worker.pipeline.models import ModelIntegrityError
    from worker.pipeline.run import analyze_slide_file, result_geojson

    try:
        with SlideReader(slide) as reader:
            res = analyze_slide_file(reader, mpp_override=mpp, models_dir=models_dir, stain=stain)
    except (SlideReadError, ModelIntegrityError) as exc:
        raise click.ClickException(str(exc)) from exc
    d = res.to_dict()
    if geojson is not None:
        geojson.write_text(json.dumps(result_geojson(d)))
    if as_json:
        json.dump(d, sys.stdout)
        sys.stdout.write("\n")
        return
    counts: dict[str, int] = {}
    for g in d["glomeruli"]:
        counts[g["status"]] = counts.get(g["status"], 0) + 1
    ink = d["stats"].get("ink_area_mm2")
    click.echo(f"{slide.name}: {len(d['glomeruli'])} glomeruli {counts}; "
               f"{d['timings_s']['total']:.2f} s (tiles {d['stats']['tiles']})"
               + (f"; marker ink left out: {ink:g} mm²" if ink else ""))
    for g in d["glomeruli"]:
        top = sorted(g["findings"].items(), key=lambda kv: -kv[1])[:2]
        click.echo(f"  #{g['id']:3d} bbox {g['bbox_px']} score {g['score']:.2f} {g['status']:<14} "
                   f"{' '.join(f'{k}={v:.2f}' for k, v in top)} {' '.join(g['flags'])}")
