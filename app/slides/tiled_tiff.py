"""Pixel reads straight from the tiles of plain tiled TIFF pyramids (generic TIFF, Aperio SVS).

Why: OpenSlide composites every region through premultiplied ARGB (~12 ns per output pixel even
when its tile cache holds the tiles), and `SlideReader` then un-premultiplies and drops alpha; the
slide pipeline reads ~14 M pixels per biopsy this way, and on two cores that CPU is taken from the
models. Decoding the same JPEG tiles with imagecodecs (through tifffile, which knows each
compression's colour conventions) and copying them into place costs a fraction of that (the bench
slide's 512² JPEG tiles decode in ~1.4 ms, ~5 ns per pixel; `bench/bench_pipeline.py` times the same
reads both ways in every run: `read_only_s` vs `read_openslide_s`).

This is an accelerator, not a second reader: OpenSlide still opens, identifies and describes the
slide, and serves every read this module declines. It serves a read only when the result is the same
pixels OpenSlide would return (tested against OpenSlide on real and synthetic files):
  * the vendor is one whose levels are plain tiled TIFF pages (`generic-tiff`, `aperio`);
  * the level is a tiled, 8-bit, 3-sample, chunky page of a compression listed in `COMPRESSIONS`;
  * the request starts on a whole pixel of that level (OpenSlide interpolates sub-pixel offsets);
  * every tile the request touches is present and decodes (OpenSlide's Aperio reader fills a missing
    tile from other levels, which this module does not imitate; a damaged tile gets OpenSlide's error).
Outside the level's bounds the pixels are white, as `SlideReader.read_region` makes them.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from numpy.typing import NDArray

VENDORS = frozenset({"generic-tiff", "aperio"})
# TIFF compressions decoded here: none, LZW, JPEG, Adobe deflate, deflate. Aperio's JPEG 2000
# (33003/33005) is left to OpenSlide, which knows Aperio's YCbCr/RGB convention for it.
COMPRESSIONS = frozenset({1, 5, 7, 8, 32946})
# Decoded tiles kept by default (a cap, not an allocation): ~200 tiles of 512². One analysis revisits tiles:
# the focus check's 1 µm/px windows fall on tiles the detector's mosaic decoded when a pyramid has no
# 2 µm/px level (Aperio's 4× steps), and on each other. Bench slides, tiles decoded per analysis at 48 /
# 96 / 160 MB: 4×-step SVS 382 / 277 / 246, 2×-step TIFF 237 / 220 / 205 (no change beyond 160 MB).
CACHE_BYTES = 160 << 20


@dataclass(frozen=True)
class _Level:
    """One pyramid level's TIFF page: geometry, where its tiles are, and how to decode them."""

    width: int
    height: int
    tile_w: int
    tile_h: int
    offsets: Sequence[int]
    counts: Sequence[int]
    decode: Callable[..., Any]
    jpegtables: bytes | None

    @property
    def tiles_across(self) -> int:
        return math.ceil(self.width / self.tile_w)


def _usable(page: tifffile.TiffPage) -> bool:
    return bool(page.is_tiled and page.tiledepth == 1 and page.samplesperpixel == 3 and page.bitspersample == 8
                and page.planarconfig == 1 and not page.extrasamples and int(page.compression) in COMPRESSIONS
                and int(page.photometric) in (2, 6) and (int(page.photometric) == 2 or int(page.compression) == 7))


class DirectTiles:
    """Decoded-tile reads for the levels of one open slide that qualify (see the module docstring).

    Thread-safe: the pipeline's reader, post-processing and focus threads share one instance. Tile
    bytes are read with `os.pread` (no shared file position) and decoded outside the cache lock.
    """

    def __init__(self, path: Path, levels: dict[int, _Level], tif: tifffile.TiffFile, *,
                 cache_bytes: int = CACHE_BYTES) -> None:
        self.path = path
        self._levels = levels
        self._tif = tif  # keeps the pages' decoders valid; closed with the reader
        self._fd = os.open(path, os.O_RDONLY)
        self._cache: OrderedDict[tuple[int, int], NDArray[np.uint8]] = OrderedDict()
        self._cached_bytes = 0
        self._cache_limit = cache_bytes
        self._lock = threading.Lock()
        self.tiles_decoded = 0

    @classmethod
    def open(cls, path: Path, *, vendor: str, level_dimensions: Sequence[tuple[int, int]],
             cache_bytes: int = CACHE_BYTES) -> DirectTiles | None:
        """The accelerator for `path`, or None when no level of it qualifies (or tifffile cannot parse it)."""
        if vendor not in VENDORS:
            return None
        try:
            tif = tifffile.TiffFile(path)
        except Exception:  # noqa: BLE001 - OpenSlide opened it; anything tifffile dislikes just stays with OpenSlide
            return None
        try:
            pages = [p for p in tif.pages if isinstance(p, tifffile.TiffPage) and p.is_tiled]
            levels: dict[int, _Level] = {}
            for i, (w, h) in enumerate(level_dimensions):
                same = [p for p in pages if (p.imagewidth, p.imagelength) == (w, h)]
                if len(same) != 1 or not _usable(same[0]):
                    continue
                p = same[0]
                levels[i] = _Level(w, h, int(p.tilewidth), int(p.tilelength), tuple(p.dataoffsets),
                                   tuple(p.databytecounts), p.decode, p.jpegtables)
        except Exception:  # noqa: BLE001 - same as above: a file tifffile misreads is OpenSlide's alone
            tif.close()
            return None
        if not levels:
            tif.close()
            return None
        return cls(path, levels, tif, cache_bytes=cache_bytes)

    def close(self) -> None:
        os.close(self._fd)
        self._tif.close()
        self._cache.clear()

    def serves(self, level: int) -> bool:
        return level in self._levels

    def _tile(self, level: int, lv: _Level, index: int) -> NDArray[np.uint8] | None:
        key = (level, index)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        data = os.pread(self._fd, lv.counts[index], lv.offsets[index])
        try:
            seg = lv.decode(data, index, jpegtables=lv.jpegtables)[0]
            tile = np.ascontiguousarray(np.asarray(seg, np.uint8).reshape(lv.tile_h, lv.tile_w, 3))
        except Exception:  # noqa: BLE001 - a damaged tile: OpenSlide reads it, or says clearly what is wrong
            return None
        with self._lock:
            self.tiles_decoded += 1
            if key not in self._cache:
                self._cache[key] = tile
                self._cached_bytes += tile.nbytes
                while self._cached_bytes > self._cache_limit and len(self._cache) > 1:
                    _, old = self._cache.popitem(last=False)
                    self._cached_bytes -= old.nbytes
        return tile

    def read(self, level: int, x: int, y: int, w: int, h: int) -> NDArray[np.uint8] | None:
        """RGB pixels of the (x, y, w, h) rectangle in `level` pixels, or None to leave it to OpenSlide."""
        lv = self._levels.get(level)
        if lv is None:
            return None
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(lv.width, x + w), min(lv.height, y + h)
        spans: list[tuple[int, int, int]] = []  # (tile index, tile column, tile row) under the request
        if x0 < x1 and y0 < y1:
            for ty in range(y0 // lv.tile_h, (y1 - 1) // lv.tile_h + 1):
                for tx in range(x0 // lv.tile_w, (x1 - 1) // lv.tile_w + 1):
                    i = ty * lv.tiles_across + tx
                    if i >= len(lv.counts) or lv.counts[i] == 0:
                        return None  # a missing tile: OpenSlide decides what shows there
                    spans.append((i, tx, ty))
        # every pixel inside the level comes from a tile: fill white only when the request leaves it
        inside = x0 == x and y0 == y and x1 == x + w and y1 == y + h
        out = np.empty((h, w, 3), np.uint8) if inside else np.full((h, w, 3), 255, np.uint8)
        for i, tx, ty in spans:
            tile = self._tile(level, lv, i)
            if tile is None:
                return None
            tx0, ty0 = tx * lv.tile_w, ty * lv.tile_h
            ix0, ix1 = max(x0, tx0), min(x1, tx0 + lv.tile_w)
            iy0, iy1 = max(y0, ty0), min(y1, ty0 + lv.tile_h)
            out[iy0 - y : iy1 - y, ix0 - x : ix1 - x] = tile[iy0 - ty0 : iy1 - ty0, ix0 - tx0 : ix1 - tx0]
        return out
