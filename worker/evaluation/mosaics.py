"""The real PAS fields stitched back into the tissue they were cut from, and the whole pipeline run on it.

The 24 AIDPATH fields are 1024² tiles of a few slides, and 21 of their 27 glomerulus regions are cut by
a field edge. A field edge is exactly where a detector sees least: the pipeline never trusts a tile's
border (it keeps only tile centres, the borders come from the neighbouring tiles), but a lone field has
no neighbour. Many fields do have their neighbour in the folder: the pixels on either side of a shared
edge are neighbouring pixels of one slide, so their rows/columns correlate as strongly as two adjacent
columns inside one field (≥ 0.88 measured), while edges of unrelated fields correlate ≤ 0.6. Stitching
the neighbours back gives larger pieces of real tissue in which glomeruli cut by a shared edge are
whole again, and those pieces can be written as pyramidal slides and analysed end to end (tissue mask,
tiles, stitching, instances, classification, focus) exactly as an uploaded slide would be.

Scoring keeps the issue's rule: a glomerulus cut by the edge of the stitched tissue (the image border or
a missing neighbour, filled with glass) is "don't care". For a split (the fixed halves of
`fields.field_split`), glomeruli reaching into a field of the other half are don't care as well, and a
prediction whose centre lies outside the split's fields is not scored.
"""

from __future__ import annotations

import math
import tempfile
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage
from shapely.geometry import Point, Polygon

from worker.evaluation.detection import Truth, detection_scores, prf
from worker.evaluation.fields import FIELD_MPP, component_polygon, field_split, read_mask

ADJ_MIN_CORR = 0.8  # edge correlation that makes two fields neighbours (measured: neighbours ≥ 0.88, others ≤ 0.60)
MIN_TRUTH_PX = 500  # mask components smaller than this (field px) are annotation specks, as in fields.py
GLASS = 245  # fill of grid cells without a field


@dataclass
class FieldMosaic:
    """Fields laid out on a grid of `tile`-px cells; cells without a field are glass.

    Attributes:
        cells: field name → (column, row).
        tile: field edge (px).
        image: stitched RGB.
        mask: stitched glomerulus mask.
        covered: True where a field lies (False: filled glass).
    """

    cells: dict[str, tuple[int, int]]
    tile: int
    image: NDArray[np.uint8] = field(repr=False)
    mask: NDArray[np.bool_] = field(repr=False)
    covered: NDArray[np.bool_] = field(repr=False)

    @property
    def name(self) -> str:
        return "+".join(sorted(self.cells))

    @cached_property
    def rim(self) -> NDArray[np.bool_]:
        """Field pixels touching glass or the image border: a glomerulus reaching them is cut by the tissue's edge."""
        outside = ~np.pad(self.covered, 1, constant_values=False)
        return np.asarray(ndimage.binary_dilation(outside)[1:-1, 1:-1], bool)

    def field_at(self, x: float, y: float) -> str | None:
        """The field under a mosaic pixel, or None on glass."""
        col, row = int(x // self.tile), int(y // self.tile)
        return next((n for n, c in self.cells.items() if c == (col, row)), None)


def _corr(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    a, b = a - a.mean(), b - b.mean()
    d = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / d if d > 0 else 0.0


def find_neighbours(grey: dict[str, NDArray[np.float32]], min_corr: float = ADJ_MIN_CORR) -> list[tuple[str, str, str, float]]:
    """(a, b, "right"|"below", correlation): b lies right of / below a.

    A pair counts when the edge correlation is ≥ `min_corr` and each field is the other's best match on
    that side, so one field never gets two neighbours on one side.
    """
    names = sorted(grey)
    out: list[tuple[str, str, str, float]] = []
    for side in ("right", "below"):
        score = {(a, b): _corr(grey[a][:, -1], grey[b][:, 0]) if side == "right" else _corr(grey[a][-1, :], grey[b][0, :])
                 for a in names for b in names if a != b and grey[a].shape == grey[b].shape}
        for (a, b), c in score.items():
            if c < min_corr:
                continue
            best_b = max((s for (x, _), s in score.items() if x == a), default=0.0)
            best_a = max((s for (_, y), s in score.items() if y == b), default=0.0)
            if c >= best_b and c >= best_a:
                out.append((a, b, side, round(c, 4)))
    return sorted(out)


def layout(names: list[str], pairs: list[tuple[str, str, str, float]]) -> list[dict[str, tuple[int, int]]]:
    """Connected groups of fields with grid positions (top-left cell at 0, 0), largest first.

    Raises:
        ValueError: the pairs place one field at two positions (not a grid of tiles).
    """
    links: dict[str, list[tuple[str, int, int]]] = {n: [] for n in names}
    for a, b, side, _ in pairs:
        dx, dy = (1, 0) if side == "right" else (0, 1)
        links[a].append((b, dx, dy))
        links[b].append((a, -dx, -dy))
    groups: list[dict[str, tuple[int, int]]] = []
    seen: set[str] = set()
    for start in names:
        if start in seen:
            continue
        pos = {start: (0, 0)}
        todo = deque([start])
        seen.add(start)
        while todo:
            n = todo.popleft()
            for m, dx, dy in links[n]:
                p = (pos[n][0] + dx, pos[n][1] + dy)
                if m in pos:
                    if pos[m] != p:
                        raise ValueError(f"fields {n} and {m} do not fit one grid")
                    continue
                pos[m] = p
                seen.add(m)
                todo.append(m)
        x0, y0 = min(p[0] for p in pos.values()), min(p[1] for p in pos.values())
        groups.append({n: (x - x0, y - y0) for n, (x, y) in pos.items()})
    return sorted(groups, key=lambda g: (-len(g), sorted(g)))


def _read_field(root: Path, name: str) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    return np.asarray(Image.open(root / "images" / name).convert("RGB")), read_mask(root / "masks" / name)


def assemble(root: Path, names: Iterable[str] | None = None) -> list[FieldMosaic]:
    """Every group of neighbouring fields of `root` (images/ and masks/ as in the shared data), stitched.

    Args:
        names: only these field file names (default: every PNG in images/). Neighbours are then searched
            among them alone, so a training set never borrows a field from the half it must not see.
    """
    names = sorted(p.name for p in (root / "images").glob("*.png")) if names is None else sorted(set(names))
    data = {n: _read_field(root, n) for n in names}
    grey = {n: rgb.astype(np.float32).mean(axis=2) for n, (rgb, _) in data.items()}
    out: list[FieldMosaic] = []
    for cells in layout(names, find_neighbours(grey)):
        t = data[next(iter(cells))][0].shape[0]
        cols, rows = max(c for c, _ in cells.values()) + 1, max(r for _, r in cells.values()) + 1
        image = np.full((rows * t, cols * t, 3), GLASS, np.uint8)
        mask = np.zeros((rows * t, cols * t), bool)
        covered = np.zeros_like(mask)
        for n, (c, r) in cells.items():
            rgb, m = data[n]
            image[r * t : (r + 1) * t, c * t : (c + 1) * t] = rgb
            mask[r * t : (r + 1) * t, c * t : (c + 1) * t] = m
            covered[r * t : (r + 1) * t, c * t : (c + 1) * t] = True
        out.append(FieldMosaic(cells, t, image, mask, covered))
    return out


def mosaic_truth(m: FieldMosaic, fields: set[str] | None = None) -> list[Truth]:
    """Glomeruli of the stitched mask; don't care when cut by the stitched tissue's edge or, with `fields`,
    when reaching into a field outside `fields`."""
    lab, _ = ndimage.label(m.mask)
    out: list[Truth] = []
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        comp = lab[sl] == i
        if int(comp.sum()) < MIN_TRUTH_PX:
            continue
        dont_care = bool((m.rim[sl] & comp).any())
        if fields is not None:
            ys, xs = np.nonzero(comp)
            names = {m.field_at(x + sl[1].start, y + sl[0].start) for y, x in zip(ys[::97], xs[::97])}
            dont_care |= not names <= fields
        out.append(Truth(component_polygon(comp, sl[1].start, sl[0].start), {}, dont_care=dont_care))
    return out


def write_pyramid(m: FieldMosaic, path: Path, *, mpp: float = FIELD_MPP, quality: int = 95) -> Path:
    """A tiled JPEG pyramid (2× steps, main IFDs) OpenSlide opens as a generic TIFF stating `mpp`."""
    res = 1e4 / mpp  # px per cm
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        level = m.image
        ds = 1
        while True:
            tif.write(level, photometric="rgb", tile=(256, 256), compression="jpeg", compressionargs={"level": quality},
                      resolution=(res / ds, res / ds), resolutionunit="CENTIMETER", subfiletype=0 if ds == 1 else 1,
                      metadata=None)
            if max(level.shape[:2]) <= 512:
                break
            h, w = level.shape[0] // 2, level.shape[1] // 2
            level = np.asarray(Image.fromarray(level).reduce(2))[:h, :w]
            ds *= 2
    return path


def evaluate_mosaics(root: Path, *, split: str = "all", field_mpp: float = FIELD_MPP, models_dir: Path | None = None,
                     workdir: Path | None = None) -> dict[str, Any]:
    """Run `analyze_slide_file` on every stitched group holding a field of `split` and score its detections.

    Returns:
        totals (tp, fp, fn, duplicates, precision, recall, f1, scorable, dont_care) and one row per group.
    """
    from app.slides.reader import SlideReader
    from worker.pipeline.run import analyze_slide_file

    chosen = {p.name for p in field_split(root, split)}
    tot = {"tp": 0, "fp": 0, "fn": 0, "duplicates": 0, "scorable": 0, "dont_care": 0}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="glomcheck-mosaics-") as tmp:
        wd = workdir or Path(tmp)
        for m in assemble(root):
            if not chosen & set(m.cells):
                continue
            path = write_pyramid(m, wd / f"mosaic-{min(m.cells).removesuffix('.png')}.tiff", mpp=field_mpp)
            with SlideReader(path) as r:
                res = analyze_slide_file(r, mpp_override=field_mpp, models_dir=models_dir)
            polys, scores = [], []
            for g in res.glomeruli:
                p = Polygon(g["polygon_px"]).buffer(0)
                c = p.centroid if not p.is_empty else Point(0, 0)
                if m.field_at(c.x, c.y) in chosen:
                    polys.append(p)
                    scores.append(float(g["score"]))
            truths = mosaic_truth(m, chosen if split != "all" else None)
            s = detection_scores(polys, scores, truths)
            for k in ("tp", "fp", "fn", "duplicates"):
                tot[k] += int(s[k])
            n_dc = sum(t.dont_care for t in truths)
            tot["scorable"] += len(truths) - n_dc
            tot["dont_care"] += n_dc
            rows.append({"fields": sorted(m.cells), "size_px": [m.image.shape[1], m.image.shape[0]],
                         "scorable": len(truths) - n_dc, "dont_care": n_dc, "n_pred": len(polys),
                         **{k: s[k] for k in ("tp", "fp", "fn", "duplicates")},
                         "seconds": round(float(res.timings_s.get("total", math.nan)), 2)})
    return {**tot, **prf(tot["tp"], tot["fp"], tot["fn"]), "split": split, "field_mpp_assumed": field_mpp, "groups": rows}
