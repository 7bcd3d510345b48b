"""Detector-resolution pixels over the union of the detection tiles, each pixel read once.

Detector tiles overlap (by 128 px: stride 640 of 768 px), so reading them one by one would composite and
convert the overlaps twice (1.2× the pixels the detector needs; 1.7× with the 512-px tiles used before), and its cost is mostly per output pixel (assembling
cached JPEG tiles, un-premultiplying ARGB; on plain TIFF/SVS levels, decoding and copying tiles, see
app/slides/tiled_tiff.py). Reading the union of the tiles in cells of a few
hundred pixels converts each pixel once; detector tiles and classifier crops are then sliced from memory. Only the
parts under some tile are kept, so memory follows the tissue area, not the slide size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from app.slides.reader import SlideReader

BAND_ROWS = 128  # mosaic rows per cell
CELL_COLS = 512  # mosaic columns per cell: a 768² tile needs ~2×7 cells, so the first one is ready early


@dataclass(frozen=True)
class Rect:
    """A rectangle in mosaic pixels (the detector's µm/px, origin at the slide's top-left)."""

    x: int
    y: int
    w: int
    h: int


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open [start, end) intervals, sorted; touching intervals merge."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


class TileMosaic:
    """Pixels at `mpp` over `rects`, read cell by cell from `reader`.

    A cell is `band_rows` rows × `cell_cols` columns of the mosaic; only its parts under some rect
    are read. Cells keep the first tile's wait short (a whole-width band would be read first) and
    let the reader run ahead of the detector row by row.

    Args:
        reader: the open slide.
        mpp0: level-0 µm/px.
        mpp: the mosaic's µm/px (the detector's).
        rects: the regions that will be asked for (detector tiles), in mosaic px.
        band_rows: mosaic rows per cell.
        cell_cols: mosaic columns per cell.
        blank: (mask, level-0 px per mask px): pixels under True cells are read as white (glass), so
            the detector and classifier never see them (marker ink).
    """

    def __init__(self, reader: SlideReader, *, mpp0: float, mpp: float, rects: list[Rect],
                 band_rows: int = BAND_ROWS, cell_cols: int = CELL_COLS,
                 blank: tuple[NDArray[np.bool_], float] | None = None) -> None:
        self.reader = reader
        self.blank = blank if blank is not None and blank[0].any() else None
        self.mpp0, self.mpp = mpp0, mpp
        self.scale = mpp / mpp0  # level-0 px per mosaic px
        self.band_rows, self.cell_cols = band_rows, cell_cols
        self.rects = rects
        self._cells: dict[tuple[int, int], list[tuple[int, NDArray[np.uint8]]]] = {}
        self._spans: dict[int, list[tuple[int, int]]] = {}
        self.pixels_read = 0

    # -- reading ----------------------------------------------------------------------------
    def spans(self, band: int) -> list[tuple[int, int]]:
        """Mosaic columns of `band` covered by at least one rect."""
        if band not in self._spans:
            y0, y1 = band * self.band_rows, (band + 1) * self.band_rows
            self._spans[band] = merge_spans([(r.x, r.x + r.w) for r in self.rects if r.y < y1 and r.y + r.h > y0])
        return self._spans[band]

    def _cell_spans(self, band: int, col: int) -> list[tuple[int, int]]:
        c0, c1 = col * self.cell_cols, (col + 1) * self.cell_cols
        return [(max(s, c0), min(e, c1)) for s, e in self.spans(band) if s < c1 and e > c0]

    def _cells_of(self, x: int, y: int, w: int, h: int) -> list[tuple[int, int]]:
        bands = range(max(0, y // self.band_rows), math.ceil((y + h) / self.band_rows))
        cols = range(max(0, x // self.cell_cols), math.ceil((x + w) / self.cell_cols))
        return [(b, c) for b in bands for c in cols]

    def ready(self, x: int, y: int, w: int, h: int) -> bool:
        """True when every cell under the rect that will ever be read has been (safe from another thread)."""
        return all(k in self._cells or not self._cell_spans(*k) for k in self._cells_of(x, y, w, h))

    def crop_rect(self, cx: float, cy: float, size: int) -> Rect:
        """The `size`² rect (mosaic px) centred on a level-0 point."""
        return Rect(round(cx / self.scale - size / 2), round(cy / self.scale - size / 2), size, size)

    def read_cell(self, band: int, col: int) -> None:
        """Read the parts of one cell under some rect (idempotent)."""
        if (band, col) in self._cells:
            return
        rows = self.band_rows
        y_top = band * rows
        ly0 = round(y_top * self.scale)
        ly1 = round((y_top + rows) * self.scale)
        segs: list[tuple[int, NDArray[np.uint8]]] = []
        for s, e in self._cell_spans(band, col):
            lx0, lx1 = round(s * self.scale), round(e * self.scale)
            img = self.reader.read_rect_mpp(lx0, ly0, lx1 - lx0, ly1 - ly0, self.mpp, mpp0=self.mpp0)
            if img.shape[:2] != (rows, e - s):  # ±1 px of rounding at non-integer scales
                img = np.asarray(Image.fromarray(img).resize((e - s, rows), Image.Resampling.BILINEAR))
            if self.blank is not None:
                img = self._whiten(img, s, y_top)
            segs.append((s, img))
            self.pixels_read += img.shape[0] * img.shape[1]
        self._cells[(band, col)] = segs  # published whole: readers on other threads see all or nothing

    def _whiten(self, img: NDArray[np.uint8], x: int, y: int) -> NDArray[np.uint8]:
        """`img` (mosaic px from (x, y)) with the pixels whose centre falls in a blank cell set to white."""
        assert self.blank is not None
        mask, ds = self.blank
        h, w = img.shape[:2]
        f = self.scale / ds  # mask px per mosaic px
        my = np.minimum(((np.arange(y, y + h) + 0.5) * f).astype(np.intp), mask.shape[0] - 1)
        mx = np.minimum(((np.arange(x, x + w) + 0.5) * f).astype(np.intp), mask.shape[1] - 1)
        sub = mask[my[0] : my[-1] + 1, mx[0] : mx[-1] + 1]
        if not sub.any():
            return img
        hit = mask[np.ix_(my, mx)]
        out = img.copy()
        out[hit] = 255
        return out

    def read_all(self) -> None:
        """Read every cell any rect needs (what the pipeline reads, without slicing tiles)."""
        for k in sorted({k for r in self.rects for k in self._cells_of(r.x, r.y, r.w, r.h)}):
            self.read_cell(*k)

    def stream(self, axis: int = 0) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        """Read cells top to bottom (`axis` 0) or left to right (1), yielding (rect index, pixels) as
        soon as a rect is complete."""
        def key(i: int) -> tuple[int, int]:
            r = self.rects[i]
            return (r.y + r.h, r.x) if axis == 0 else (r.x + r.w, r.y)

        order = sorted(range(len(self.rects)), key=key)
        for i in order:
            r = self.rects[i]
            for k in self._cells_of(r.x, r.y, r.w, r.h):
                self.read_cell(*k)
            yield i, self.region(r.x, r.y, r.w, r.h)

    # -- slicing ----------------------------------------------------------------------------
    def region(self, x: int, y: int, w: int, h: int) -> NDArray[np.uint8]:
        """Pixels of a rectangle; white where nothing was read (glass, or beyond the slide)."""
        parts: list[tuple[int, int, int, int, int, int, NDArray[np.uint8]]] = []
        covered = 0
        for b, c in self._cells_of(x, y, w, h):
            by = b * self.band_rows
            for sx, img in self._cells.get((b, c), ()):
                ix0, ix1 = max(x, sx), min(x + w, sx + img.shape[1])
                iy0, iy1 = max(y, by), min(y + h, by + img.shape[0])
                if ix0 < ix1 and iy0 < iy1:
                    parts.append((ix0, ix1, iy0, iy1, sx, by, img))
                    covered += (ix1 - ix0) * (iy1 - iy0)
        # cells and their segments are disjoint, so full coverage needs no white fill (a pass over ~0.8 MB)
        out = np.empty((h, w, 3), np.uint8) if covered == w * h else np.full((h, w, 3), 255, np.uint8)
        for ix0, ix1, iy0, iy1, sx, by, img in parts:
            out[iy0 - y : iy1 - y, ix0 - x : ix1 - x] = img[iy0 - by : iy1 - by, ix0 - sx : ix1 - sx]
        return out

    def crops(self, centres_px0: list[tuple[float, float]], size: int) -> NDArray[np.uint8]:
        """`size`² crops centred on level-0 points, sliced from what was read."""
        out = np.empty((len(centres_px0), size, size, 3), np.uint8)
        for i, (cx, cy) in enumerate(centres_px0):
            r = self.crop_rect(cx, cy, size)
            out[i] = self.region(r.x, r.y, r.w, r.h)
        return out
