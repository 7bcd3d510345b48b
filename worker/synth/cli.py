"""`glomcheck synth`: write a synthetic renal biopsy slide and its ground truth."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--seed", type=int, required=True, help="Determines the whole slide.")
@click.option("--stain", type=click.Choice(["pas", "pam", "mt", "he"]), default="pas", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["tiff", "svs"]), default=None,
              help="Default: from OUT's suffix (.svs → svs, else tiff).")
@click.option("--glomeruli-from", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
              help="Composite real glomerulus crops (folder laid out like shared/data/glomeruli).")
@click.option("--centre", "centres", multiple=True, help="With --glomeruli-from: only crops of this centre.")
@click.option("--sections", type=click.IntRange(1, 3), default=1, show_default=True)
@click.option("--size", type=click.Choice(["small", "full"]), default="small", show_default=True,
              help="small: 2.4 mm cores (tests); full: 1.5 cm cores.")
@click.option("--defocus", "defocus", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of glomeruli blurred out of focus (flagged out_of_focus in the truth); chosen by --seed.")
@click.option("--defocus-um", type=float, default=2.0, show_default=True, help="Defocus PSF (disc) radius, µm.")
@click.option("--ink", "ink_marks", type=click.IntRange(0, 12), default=0, show_default=True,
              help="Marker-ink marks drawn on the slide (a dot, a stroke, a ring, then random; small slides).")
@click.option("--level-step", type=click.Choice(["2", "4"]), default="2", show_default=True,
              help="Downsample between pyramid levels: 2 (NDPI/MRXS-like) or 4 (Aperio-like: no 2 µm/px level).")
def synth(out: Path, seed: int, stain: str, fmt: str | None, glomeruli_from: Path | None, centres: tuple[str, ...],
          sections: int, size: str, defocus: float, defocus_um: float, ink_marks: int, level_step: str) -> None:
    """Write a pyramidal synthetic slide OUT (0.25 µm/px) and OUT's .geojson ground truth."""
    from worker.synth import make_slide

    fmt = fmt or ("svs" if out.suffix.lower() == ".svs" else "tiff")
    t = time.perf_counter()
    slide, truth = make_slide(out, seed=seed, stain=stain, fmt=fmt, sections=sections, size=size,  # type: ignore[arg-type]
                              glomeruli_from=glomeruli_from, centres=set(centres) or None,
                              level_step=int(level_step))
    if defocus > 0:
        from worker.synth.defocus import defocus_slide

        tmp = slide.with_name(f".defocus-{slide.name}")
        defocus_slide(slide, tmp, radius_um=defocus_um, fraction=defocus, seed=seed, truth=truth)
        tmp.replace(slide)
        tmp.with_suffix(".geojson").replace(truth)
    if ink_marks > 0:
        from worker.synth.ink import ink_slide

        tmp = slide.with_name(f".ink-{slide.name}")
        ink_slide(slide, tmp, marks=ink_marks, seed=seed, truth=truth)
        tmp.replace(slide)
        tmp.with_suffix(".geojson").replace(truth)
    from app.research.geojson import INK_CLASS

    n = sum(1 for f in json.loads(truth.read_text())["features"]
            if f["properties"].get("classification", {}).get("name") != INK_CLASS["name"])
    click.echo(json.dumps({"slide": str(slide), "truth": str(truth), "glomeruli": n,
                           "seconds": round(time.perf_counter() - t, 2)}))
