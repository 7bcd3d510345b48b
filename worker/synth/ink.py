"""Copy a pyramidal TIFF/SVS with felt-tip marker ink drawn on it: test data with known truth.

Pathologists dot slides beside the section, circle regions and strike lines with markers ~0.4–1.5 mm
wide, in blue, green or black. Ink is drawn as a transmittance layer (the scanner sees tissue through
it: out = in × T, T = ink colour ^ density), density varying slowly along the mark and fading over the
last ~15 µm of its edge, as a real marker's does. The truth GeoJSON gains one feature per mark
(classification "Ignore*", QuPath's class for regions to leave out) and glomeruli under ink get
`dont_care` (a detector may miss or flag them) and `ink_cover` (the share of the glomerulus covered).

Level 0 is held in memory (as `defocus.py`): meant for test-sized slides (`glomcheck synth --size small`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy import ndimage
from shapely.geometry import LineString, Point, Polygon, shape

from app.research.geojson import INK_CLASS
from app.slides.reader import SlideReader
from worker.synth.defocus import read_level0, write_like

INKS: dict[str, tuple[int, int, int]] = {"blue": (30, 60, 160), "green": (25, 120, 70), "black": (35, 35, 40)}
Mark = Literal["dot", "stroke", "circle"]
EDGE_UM = 15.0  # width of a mark's soft edge


def _marks(rng: np.random.Generator, tissue: Polygon, size: tuple[int, int], mpp0: float, n: int) -> list[tuple[Mark, Any, str]]:
    """`n` marks (kind, shapely geometry in level-0 px, ink) placed as pathologists place them."""
    w, h = size
    um = 1.0 / mpp0
    minx, miny, maxx, maxy = tissue.bounds
    out: list[tuple[Mark, Any, str]] = []
    kinds: list[Mark] = ["dot", "stroke", "circle"]
    for i in range(n):
        kind = kinds[i % 3] if i < 3 else kinds[int(rng.integers(3))]
        ink = list(INKS)[int(rng.integers(len(INKS)))]
        if kind == "dot":  # beside the section, on glass
            r = rng.uniform(200, 400) * um
            tries = [Point(rng.uniform(r, w - r), rng.uniform(r, h - r)) for _ in range(50)]
            c = max(tries, key=lambda p: min(p.distance(tissue), r + 150 * um))  # on glass when there is room
            geom = c.buffer(r, 64)
        elif kind == "stroke":  # across the slide, partly over the section
            width = rng.uniform(350, 600) * um
            y0, y1 = rng.uniform(miny, maxy, 2)
            line = LineString([(rng.uniform(0, minx + 0.2 * (maxx - minx)), y0),
                               (rng.uniform(maxx - 0.2 * (maxx - minx), w), y1)])
            geom = line.buffer(width / 2, 32)
        else:  # a ring around part of the section
            width = rng.uniform(350, 500) * um
            r = rng.uniform(0.5, 0.8) * (maxy - miny) + width
            c = Point(rng.uniform(minx, maxx), (miny + maxy) / 2 + rng.uniform(-0.2, 0.2) * (maxy - miny))
            geom = c.buffer(r + width / 2, 96).difference(c.buffer(r - width / 2, 96))
        geom = geom.intersection(Polygon([(0, 0), (w, 0), (w, h), (0, h)]))
        if not geom.is_empty:
            out.append((kind, geom, ink))
    return out


def _paint(level0: NDArray[np.uint8], geom: Any, ink: str, rng: np.random.Generator, mpp0: float) -> None:
    """Darken `level0` in place under `geom` with the ink's transmittance."""
    x0, y0, x1, y1 = (int(v) for v in geom.bounds)
    x0, y0 = max(0, x0 - 8), max(0, y0 - 8)
    x1, y1 = min(level0.shape[1], x1 + 8), min(level0.shape[0], y1 + 8)
    if x1 <= x0 or y1 <= y0:
        return
    # rasterise at 1/4 resolution, then upsample: the edge fade hides the blockiness
    q = 4
    mw, mh = math.ceil((x1 - x0) / q), math.ceil((y1 - y0) / q)
    img = Image.new("L", (mw, mh), 0)
    d = ImageDraw.Draw(img)
    polys = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
    for p in polys:
        d.polygon([((x - x0) / q, (y - y0) / q) for x, y in p.exterior.coords], fill=255)
        for hole in p.interiors:
            d.polygon([((x - x0) / q, (y - y0) / q) for x, y in hole.coords], fill=0)
    cover = np.asarray(img, np.float32) / 255
    cover = ndimage.gaussian_filter(cover, EDGE_UM / mpp0 / q / 2)
    noise = ndimage.gaussian_filter(rng.standard_normal((mh, mw)).astype(np.float32), 100 / mpp0 / q)
    density = 0.85 + 0.12 * noise / (float(noise.std()) + 1e-9)  # ink laid on unevenly, over ~100 µm
    alpha = cover * np.clip(density, 0.6, 1.1)
    alpha = np.asarray(Image.fromarray(alpha).resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR))
    log_t = np.log(np.asarray(INKS[ink], np.float32) / 255)
    for b0 in range(0, y1 - y0, 512):  # in bands: a stroke's box can be the whole slide
        a = alpha[b0 : b0 + 512, :, None]
        rows = slice(y0 + b0, y0 + b0 + a.shape[0])
        trans = np.exp(a * log_t[None, None, :])  # T = colour ^ density; 1 where no ink
        level0[rows, x0:x1] = np.clip(level0[rows, x0:x1] * trans, 0, 255).astype(np.uint8)


def ink_slide(src: Path, dst: Path, *, marks: int = 3, seed: int = 0, truth: Path | None = None) -> tuple[Path, Path | None]:
    """Write `dst`, a copy of `src` with `marks` marker-ink marks (a dot, a stroke, a ring, then random).

    Returns:
        (dst, its GeoJSON or None).
    """
    with SlideReader(src) as r:
        if r.mpp is None:
            raise ValueError(f"{src} does not state its µm/px")
        mpp0 = r.mpp[0]
        w, h = r.dimensions
        from worker.pipeline.tissue import compute_tissue_mask

        tm = compute_tissue_mask(r, mpp0=mpp0, mask_mpp=32.0)
    ys, xs = np.nonzero(tm.mask)
    ds = tm.downsample
    tissue = (Polygon([(xs.min() * ds, ys.min() * ds), (xs.max() * ds, ys.min() * ds), (xs.max() * ds, ys.max() * ds),
                       (xs.min() * ds, ys.max() * ds)]) if xs.size else Polygon([(w / 4, h / 4), (3 * w / 4, h / 4),
                                                                                 (3 * w / 4, 3 * h / 4), (w / 4, 3 * h / 4)]))
    rng = np.random.default_rng(seed)
    chosen = _marks(rng, tissue, (w, h), mpp0, marks)
    level0 = read_level0(src)
    for _, geom, ink in chosen:
        _paint(level0, geom, ink, rng, mpp0)
    write_like(src, dst, level0)
    truth = truth if truth is not None else (src.with_suffix(".geojson") if src.with_suffix(".geojson").exists() else None)
    if truth is None:
        return dst, None
    gj: dict[str, Any] = json.loads(truth.read_text())
    union = None
    for _, geom, _ in chosen:
        union = geom if union is None else union.union(geom)
    for f in gj["features"]:
        g = shape(f["geometry"])
        share = float(g.intersection(union).area / g.area) if union is not None and g.area > 0 else 0.0
        if share > 0:
            f["properties"]["ink_cover"] = round(share, 3)
            f["properties"]["dont_care"] = True
    for i, (kind, geom, ink) in enumerate(chosen, start=1):
        polys = list(geom.geoms) if hasattr(geom, "geoms") else [geom]
        for p in polys:
            gj["features"].append({
                "type": "Feature", "id": f"ink-{i}",
                "geometry": {"type": "Polygon", "coordinates": [[[round(x, 1), round(y, 1)] for x, y in p.exterior.coords]]
                             + [[[round(x, 1), round(y, 1)] for x, y in hole.coords] for hole in p.interiors]},
                "properties": {"objectType": "annotation", "classification": dict(INK_CLASS),
                               "name": f"marker ink: {ink} {kind}", "ink": ink, "mark": kind},
            })
    gj.setdefault("properties", {})["ink"] = {"marks": marks, "seed": seed}
    out_gj = dst.with_suffix(".geojson")
    out_gj.write_text(json.dumps(gj))
    return dst, out_gj
