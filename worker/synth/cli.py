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
def synth(out: Path, seed: int, stain: str, fmt: str | None, glomeruli_from: Path | None, centres: tuple[str, ...],
          sections: int, size: str) -> None:
    """Write a pyramidal synthetic slide OUT (0.25 µm/px) and OUT's .geojson ground truth."""
    from worker.synth import make_slide

    fmt = fmt or ("svs" if out.suffix.lower() == ".svs" else "tiff")
    t = time.perf_counter()
    slide, truth = make_slide(out, seed=seed, stain=stain, fmt=fmt, sections=sections, size=size,  # type: ignore[arg-type]
                              glomeruli_from=glomeruli_from, centres=set(centres) or None)
    n = len(json.loads(truth.read_text())["features"])
    click.echo(json.dumps({"slide": str(slide), "truth": str(truth), "glomeruli": n,
                           "seconds": round(time.perf_counter() - t, 2)}))
