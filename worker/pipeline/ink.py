"""Marker ink: found on the low-resolution tissue image so that it is neither tissue nor glomeruli.

Pathologists mark slides with felt-tip markers (dots beside the section, circles, strokes across it).
Unhandled, ink is "tissue" to a saturation threshold, the detector's tiles are spent on it, and round
ink dots or stroke fragments are taken for glomeruli: they then inflate the glomerulus count that
adequacy rests on (measured on synthetic ink, see models/glom_detector/INK.md).

Why a colour-and-size rule rather than a model: the inks in use are few (blue, green, black) and their
colours lie outside what PAS, PAM and H&E produce; no labelled inked slides exist here to train on. The
rule has three guards against taking stained tissue for ink:
  * colour: strongly saturated blue/green, or near-black and neutral, on the 16 µm/px image;
  * stain: Masson trichrome stains collagen blue or green, so on MT slides (and when the stain is not
    known) a much stricter colour rule applies;
  * size: a marker line is wider than `MIN_WIDTH_UM`; anything narrower that merely has an ink colour
    (a dark sclerosed glomerulus in a silver stain, a blue-stained vessel wall) is not ink unless it is
    connected to a region that is that wide (the thin end of a stroke).
Ink is laid on unevenly, so a mark has paler patches. They are taken in by hysteresis (a paler colour
rule, only within `GROW_UM` of confident ink and connected to it) and by filling holes in the ink smaller
than `HOLE_MM2`; a ring drawn around tissue encircles much more than that, and its inside stays tissue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

INK_VERSION = "1.0.0"
MIN_WIDTH_UM = 300.0  # narrowest marker line taken for ink; glomeruli are ~150–250 µm across
EDGE_UM = 16.0  # ink mask grown by this much: the anti-aliased rim of a stroke is ink too
GROW_UM = 400.0  # paler ink is taken in up to this far from confident ink
HOLE_MM2 = 0.2  # enclosed gaps in ink smaller than this are ink laid on thinly, not encircled tissue

# stains whose own colours never reach strongly saturated blue/green
_NON_BLUE_STAINS = frozenset({"pas", "pam", "he"})


@dataclass(frozen=True)
class InkRule:
    """Colour thresholds on 8-bit RGB of the low-resolution image (HSV hue in degrees)."""

    hue_lo: float = 90.0  # green ...
    hue_hi: float = 260.0  # ... to blue, short of the hematoxylin/PAS violets (≥ ~270°)
    min_sat: float = 0.5
    max_val: float = 0.9
    black_max_val: float = 0.22  # near-black ...
    black_max_sat: float = 0.45  # ... and neutral

    def paler(self) -> InkRule:
        """The hysteresis rule for paler ink next to confident ink."""
        return InkRule(self.hue_lo, self.hue_hi, self.min_sat - 0.15, min(0.95, self.max_val + 0.1),
                       self.black_max_val + 0.14, self.black_max_sat)


LOOSE = InkRule()
STRICT = InkRule(min_sat=0.7, max_val=0.7)  # MT or unknown stain: its collagen reached saturation 0.53 here


def rule_for(stain: str | None) -> InkRule:
    """The colour rule for a slide's stain: loose where blue/green cannot be stain, strict otherwise."""
    return LOOSE if (stain or "").lower() in _NON_BLUE_STAINS else STRICT


def ink_colour(rgb: NDArray[np.uint8], rule: InkRule) -> NDArray[np.bool_]:
    """Pixels whose colour is marker ink (no size test)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    chroma = mx - mn
    sat = np.divide(chroma, mx, out=np.zeros_like(mx), where=mx > 0)
    val = mx / 255.0
    safe = np.maximum(chroma, 1e-6)
    hue = np.where(mx == r, np.mod((g - b) / safe, 6.0), np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0)) * 60.0
    coloured = (hue >= rule.hue_lo) & (hue <= rule.hue_hi) & (sat >= rule.min_sat) & (val <= rule.max_val)
    black = (val <= rule.black_max_val) & (sat <= rule.black_max_sat)
    return np.asarray(coloured | black)


def _disc(radius: int) -> NDArray[np.bool_]:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.asarray(x * x + y * y <= radius * radius)


def ink_mask_from_rgb(rgb: NDArray[np.uint8], *, mpp: float, stain: str | None = None) -> NDArray[np.bool_]:
    """Marker ink on an RGB image of `mpp` µm/px (the tissue mask's image).

    Ink-coloured pixels are kept where they belong to a region at least `MIN_WIDTH_UM` wide (an
    opening by a disc of that diameter finds the wide parts; the ink-coloured pixels connected to them
    are added back), and the result is grown by `EDGE_UM`.
    """
    rule = rule_for(stain)
    colour = ink_colour(rgb, rule)
    if not colour.any():
        return colour
    # Morphology with discs of 10–25 px by distance transforms: scipy's binary erosion with such
    # structuring elements cost ~0.4 s on an inked three-core slide, the transforms a few ms.
    radius = max(1, math.ceil(MIN_WIDTH_UM / mpp / 2))
    core = ndimage.distance_transform_edt(colour) > radius  # erosion by the disc (the image edge is not glass)
    if not core.any():
        return np.zeros_like(colour)
    to_core = ndimage.distance_transform_edt(~core)
    wide = colour & (to_core <= radius)  # opening: the core grown back by the disc
    near = to_core <= radius + max(1, round(GROW_UM / mpp))
    allowed = colour | (ink_colour(rgb, rule.paler()) & near)
    ink = np.asarray(ndimage.binary_propagation(wide, structure=np.ones((3, 3), bool), mask=allowed))
    holes = ndimage.binary_fill_holes(ink) & ~ink
    lab, n = ndimage.label(holes)
    if n:
        sizes = ndimage.sum_labels(holes, lab, index=np.arange(1, n + 1)) * (mpp / 1000) ** 2
        ink |= np.isin(lab, np.flatnonzero(sizes < HOLE_MM2) + 1)
    grow = max(1, round(EDGE_UM / mpp))
    return np.asarray(ndimage.binary_dilation(ink, structure=_disc(grow)))


def ink_polygons(ink: NDArray[np.bool_], downsample: float) -> list[list[list[list[float]]]]:
    """The ink regions as GeoJSON polygon coordinates in level-0 px (exterior ring, then holes), simplified
    to the mask's pixel size, so a viewer or QuPath can show what was left out. A circle drawn in ink is
    one polygon with a hole: the tissue it encircles is not ink."""
    from shapely.geometry import Polygon
    from skimage.measure import find_contours

    rings: list[Polygon] = []
    for c in find_contours(np.pad(ink.astype(np.float32), 1), 0.5):
        if len(c) < 4:
            continue
        poly = Polygon((c[:, ::-1] - 1 + 0.5) * downsample).simplify(downsample / 2)
        if not poly.is_empty and poly.geom_type == "Polygon" and poly.area > 0:
            rings.append(poly)
    rings.sort(key=lambda p: -p.area)
    # a ring inside an odd number of larger rings is a hole of the smallest of them
    depth = [sum(1 for big in rings[:i] if big.contains(r.representative_point())) for i, r in enumerate(rings)]
    out: list[list[list[list[float]]]] = []
    index: dict[int, int] = {}
    for i, r in enumerate(rings):
        coords = [[round(x, 1), round(y, 1)] for x, y in r.exterior.coords]
        if depth[i] % 2 == 0:
            index[i] = len(out)
            out.append([coords])
        else:
            parent = min((j for j in range(i) if depth[j] == depth[i] - 1 and rings[j].contains(r.representative_point())),
                         key=lambda j: rings[j].area, default=None)
            if parent is not None and parent in index:
                out[index[parent]].append(coords)
    return out
