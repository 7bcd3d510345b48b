"""Tissue mask on a low-resolution level and the tile grid over tissue only.

Kidney needle cores cover a few percent of a slide, so skipping background is the first and
cheapest speed-up of the pipeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.morphology import remove_small_objects

from app.slides.reader import SlideReader

MASK_MPP = 8.0  # µm/px of the mask: glomeruli (~150 µm) span ~20 mask pixels


@dataclass(frozen=True)
class TissueMask:
    """Boolean mask of tissue; `downsample` = level-0 px per mask px.

    `ink` (same grid, or None when not looked for) is marker ink, which `mask` leaves out.
    """

    mask: NDArray[np.bool_]
    downsample: float
    ink: NDArray[np.bool_] | None = None

    @property
    def ink_px(self) -> int:
        return int(self.ink.sum()) if self.ink is not None else 0

    @property
    def fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


@dataclass(frozen=True)
class Tile:
    """A tile in level-0 pixel coordinates."""

    x0: int
    y0: int
    w: int
    h: int


def tissue_mask_from_rgb(rgb: NDArray[np.uint8], *, min_object_px: int = 30) -> NDArray[np.bool_]:
    """Tissue = saturated or dark pixels (Otsu on saturation, floored so a blank slide stays blank)."""
    # HSV saturation and value straight from channel max/min: skimage's rgb2hsv (hue included, float64)
    # cost ~10× this and was most of the tissue step.
    hi = rgb.max(axis=2).astype(np.float32)
    lo = rgb.min(axis=2).astype(np.float32)
    val = hi / 255.0
    sat = np.divide(hi - lo, hi, out=np.zeros_like(hi), where=hi > 0)
    try:
        t = float(threshold_otsu(sat)) if float(sat.max()) > float(sat.min()) else 1.0
    except ValueError:
        t = 1.0
    t = max(t, 0.05)
    mask = (sat > t) | (val < 0.35)
    mask &= val > 0.05  # pure black: scanner border, not tissue
    mask = ndimage.binary_closing(mask, iterations=2)
    mask = ndimage.binary_fill_holes(mask)
    return np.asarray(remove_small_objects(mask, max_size=min_object_px), dtype=bool)


def compute_tissue_mask(reader: SlideReader, *, mpp0: float | None = None, mask_mpp: float = MASK_MPP,
                        ink: bool = False, stain: str | None = None) -> TissueMask:
    """Tissue mask at about `mask_mpp` µm/px (or a 2048-px thumbnail when the slide has no µm/px).

    With `ink`, marker ink is found on the same image (rule chosen by `stain`, see `ink.py`) and left
    out: its pixels are whitened before the tissue threshold (saturated ink would otherwise raise the
    Otsu cut and shrink the tissue) and removed from the mask after it.
    """
    w0, h0 = reader.dimensions
    base = mpp0 or (reader.mpp or (None, None))[0]
    if base is None:
        img = np.asarray(reader.thumbnail(2048))
    else:
        img = reader.read_rect_mpp(0, 0, w0, h0, max(mask_mpp, base), mpp0=base)
    ds = w0 / img.shape[1]
    if not ink or base is None:  # the ink rule's size test needs µm
        return TissueMask(tissue_mask_from_rgb(img), ds)
    from worker.pipeline.ink import ink_mask_from_rgb

    ink_mask = ink_mask_from_rgb(img, mpp=ds * base, stain=stain)
    if not ink_mask.any():
        return TissueMask(tissue_mask_from_rgb(img), ds, ink_mask)
    clean = img.copy()
    clean[ink_mask] = 255
    return TissueMask(tissue_mask_from_rgb(clean) & ~ink_mask, ds, ink_mask)


def tile_grid(
    mask: TissueMask,
    *,
    slide_size: tuple[int, int],
    tile_px0: int,
    stride_px0: int,
    min_tissue_fraction: float = 0.01,
) -> list[Tile]:
    """Tiles of `tile_px0` level-0 px every `stride_px0` px, kept only where the mask has tissue.

    The last row and column are shifted inward so the grid covers the slide edge without padding.
    """
    w0, h0 = slide_size
    tw, th = min(tile_px0, w0), min(tile_px0, h0)

    def starts(total: int, size: int) -> list[int]:
        if total <= size:
            return [0]
        n = math.ceil((total - size) / stride_px0) + 1
        return sorted({min(i * stride_px0, total - size) for i in range(n)})

    tiles: list[Tile] = []
    m = mask.mask
    ds = mask.downsample
    for y in starts(h0, th):
        for x in starts(w0, tw):
            mx0, my0 = int(x / ds), int(y / ds)
            mx1, my1 = max(mx0 + 1, math.ceil((x + tw) / ds)), max(my0 + 1, math.ceil((y + th) / ds))
            window = m[my0:my1, mx0:mx1]
            if window.size and float(window.mean()) >= min_tissue_fraction:
                tiles.append(Tile(x, y, tw, th))
    return tiles
