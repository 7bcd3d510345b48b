"""Synthetic renal biopsy slides with ground truth, for training and testing the glomerulus models."""

from __future__ import annotations

from pathlib import Path

from worker.synth.render import load_real_crops, render_raster
from worker.synth.scene import Size, Stain, build_scene
from worker.synth.slide import Format, write_slide, write_truth

__all__ = ["make_slide"]


def make_slide(
    out: Path,
    *,
    seed: int,
    stain: Stain = "pas",
    fmt: Format = "tiff",
    sections: int = 1,
    size: Size = "small",
    glomeruli_from: Path | None = None,
    centres: set[str] | None = None,
    level_step: int = 2,
) -> tuple[Path, Path]:
    """Render and write one synthetic slide and its truth GeoJSON.

    Args:
        out: slide path (.tiff or .svs); the GeoJSON goes beside it.
        seed: determines the whole slide.
        stain: "pas", "pam", "mt" or "he".
        fmt: "tiff" or "svs".
        sections: 1-3 needle-core sections.
        size: "small" (2.4 mm cores) or "full" (1.5 cm cores).
        glomeruli_from: a folder of real crops (laid out like the shared glomeruli data) to composite.
        centres: only use crops of these centres.
        level_step: downsample between pyramid levels: 2, or 4 as Aperio scanners write.

    Returns:
        (slide path, GeoJSON path).
    """
    crops = load_real_crops(glomeruli_from, centres=centres) if glomeruli_from else None
    if crops is not None and not crops:
        raise ValueError(f"no glomerulus crops found under {glomeruli_from}")
    scene = build_scene(seed, stain=stain, sections=sections, size=size, crops=crops)
    raster = render_raster(scene)
    write_slide(scene, raster, out, fmt=fmt, level_step=level_step)
    return out, write_truth(scene, out)
