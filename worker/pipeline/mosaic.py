"""Detector-resolution pixels over the union of the detection tiles, each pixel read once.

Detector tiles overlap (stride 384 of 512 px), so reading them one by one makes OpenSlide composite
and convert ~1.7× the pixels the detector needs, and its cost is mostly per output pixel (assembling
cached JPEG tiles, un-premultiplying ARGB). Reading horizontal bands over the union of the tiles
converts each pixel once; detector tiles and classifier crops are then sliced from memory. Only the
spans of each band that hold tiles are kept, so memory follows the tissue area, not the slide size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from app.slides.reader import SlideReader

BAND_ROWS = 128  # mosaic rows read per band: small enough that the first tile is ready early


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
    """Pixels at `mpp` over `rects`, read band by band from `reader`.

    Args:
        reader: the open slide.
        mpp0: level-0 µm/px.
        mpp: the mosaic's µm/px (the detector's).
        rects: the regions that will be asked for (detector tiles), in mosaic px.
        band_rows: mosaic rows per read.
    """

    def __init__(self, reader: SlideReader, *, mpp0: float, mpp: float, rects: list[Rect],
                 band_rows: int = BAND_ROWS) -> None:
        self.reader = reader
        self.mpp0, self.mpp = mpp0, mpp
        self.scale = mpp / mpp0  # level-0 px per mosaic px
        self.band_rows = band_rows
        self.rects = rects
        self._bands: dict[int, list[tuple[int, NDArray[np.uint8]]]] = {}
        self._spans: dict[int, list[tuple[int, int]]] = {}
        self.pixels_read = 0

    # -- reading ----------------------------------------------------------------------------
    def spans(self, band: int) -> list[tuple[int, int]]:
        """Mosaic columns of `band` covered by at least one rect."""
        if band not in self._spans:
            y0, y1 = band * self.band_rows, (band + 1) * self.band_rows
            self._spans[band] = merge_spans([(r.x, r.x + r.w) for r in self.rects if r.y < y1 and r.y + r.h > y0])
        return self._spans[band]

    def ready(self, y: int, h: int) -> bool:
        """True when every band of rows y..y+h-1 that will ever be read has been (safe from another thread)."""
        return all(b in self._bands or not self.spans(b) for b in self._bands_of(y, h))

    def crop_rect(self, cx: float, cy: float, size: int) -> Rect:
        """The `size`² rect (mosaic px) centred on a level-0 point."""
        return Rect(round(cx / self.scale - size / 2), round(cy / self.scale - size / 2), size, size)

    def read_band(self, band: int) -> None:
        """Read every span of one band (idempotent)."""
        if band in self._bands:
            return
        rows = self.band_rows
        y_top = band * rows
        ly0 = round(y_top * self.scale)
        ly1 = round((y_top + rows) * self.scale)
        segs: list[tuple[int, NDArray[np.uint8]]] = []
        for s, e in self.spans(band):
            lx0, lx1 = round(s * self.scale), round(e * self.scale)
            img = self.reader.read_rect_mpp(lx0, ly0, lx1 - lx0, ly1 - ly0, self.mpp, mpp0=self.mpp0)
            if img.shape[:2] != (rows, e - s):  # ±1 px of rounding at non-integer scales
                img = np.asarray(Image.fromarray(img).resize((e - s, rows), Image.Resampling.BILINEAR))
            segs.append((s, img))
            self.pixels_read += img.shape[0] * img.shape[1]
        self._bands[band] = segs

    def _bands_of(self, y: int, h: int) -> range:
        return range(max(0, y // self.band_rows), math.ceil((y + h) / self.band_rows))

    def read_all(self) -> None:
        """Read every band any rect needs (what the pipeline reads, without slicing tiles)."""
        for b in sorted({b for r in self.rects for b in self._bands_of(r.y, r.h)}):
            self.read_band(b)

    def stream(self) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        """Read bands top to bottom, yielding (rect index, pixels) as soon as a rect is complete."""
        order = sorted(range(len(self.rects)), key=lambda i: (self.rects[i].y + self.rects[i].h, self.rects[i].x))
        for i in order:
            r = self.rects[i]
            for b in self._bands_of(r.y, r.h):
                self.read_band(b)
            yield i, self.region(r.x, r.y, r.w, r.h)

    # -- slicing ----------------------------------------------------------------------------
    def region(self, x: int, y: int, w: int, h: int) -> NDArray[np.uint8]:
        """Pixels of a rectangle; white where nothing was read (glass, or beyond the slide)."""
        out = np.full((h, w, 3), 255, np.uint8)
        for b in self._bands_of(y, h):
            by = b * self.band_rows
            for sx, img in self._bands.get(b, ()):
                ix0, ix1 = max(x, sx), min(x + w, sx + img.shape[1])
                iy0, iy1 = max(y, by), min(y + h, by + img.shape[0])
                if ix0 < ix1 and iy0 < iy1:
                    out[iy0 - y : iy1 - y, ix0 - x : ix1 - x] = img[iy0 - by : iy1 - by, ix0 - sx : ix1 - sx]
        return out

    def crops(self, centres_px0: list[tuple[float, float]], size: int) -> NDArray[np.uint8]:
        """`size`² crops centred on level-0 points, sliced from what was read."""
        out = np.empty((len(centres_px0), size, size, 3), np.uint8)
        for i, (cx, cy) in enumerate(centres_px0):
            r = self.crop_rect(cx, cy, size)
            out[i] = self.region(r.x, r.y, r.w, r.h)
        return out
