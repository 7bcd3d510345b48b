"""Probability map → glomerulus instances (polygons with scores).

Tiles are stitched into one slide-wide probability map before instances are extracted, so a
glomerulus crossing a tile border is one connected region: no duplicates, no split glomeruli.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from shapely.geometry import Polygon
from skimage.measure import find_contours
from skimage.segmentation import watershed


@dataclass
class Instance:
    """One detected glomerulus in probability-map pixels (scaled to level 0 by the caller).

    Attributes:
        polygon: (n, 2) x, y vertices in map px.
        bbox: x0, y0, x1, y1 in map px (exclusive end).
        score: mean probability inside the instance.
        area_px: area in map px².
        flags: e.g. ["edge_cut"].
        focus: sharpness relative to the slide's in-focus tissue (None: not measured).
    """

    polygon: NDArray[np.float64]
    bbox: tuple[int, int, int, int]
    score: float
    area_px: float
    flags: list[str] = field(default_factory=list)
    focus: float | None = None


@dataclass(frozen=True)
class InstanceParams:
    """How a probability map becomes instances (from the detector card's `postprocess`).

    Attributes:
        map_mpp: µm/px of the map.
        threshold: foreground probability.
        min_diameter_um: drop components smaller than a disc of this diameter.
        split_distance_um: minimum distance between two glomerulus centres when splitting (a peak
            also needs ≥ 30 µm to the boundary).
        edge_fraction: fraction of the rim outside tissue that marks an instance edge-cut.
        image_edge_cut: also flag instances touching the map border (for fields, not slides).
    """

    map_mpp: float
    threshold: float = 0.5
    min_diameter_um: float = 50.0
    split_distance_um: float = 100.0
    edge_fraction: float = 0.12
    image_edge_cut: bool = False

    @property
    def min_area(self) -> float:
        return math.pi * (self.min_diameter_um / 2 / self.map_mpp) ** 2

    @property
    def min_dist(self) -> int:
        return max(2, int(self.split_distance_um / self.map_mpp))  # two centres are never closer


Slices = tuple[slice, slice]
# scipy's default (4-connected) structure, built once: rebuilding it per call cost ~4% of extraction
_CROSS = ndimage.generate_binary_structure(2, 1)
_SQUARE = np.ones((3, 3), bool)


def extract_instances(
    prob: NDArray[np.float32],
    *,
    map_mpp: float,
    threshold: float = 0.5,
    min_diameter_um: float = 50.0,
    split_distance_um: float = 100.0,
    tissue: NDArray[np.bool_] | None = None,
    edge_fraction: float = 0.12,
    image_edge_cut: bool = False,
    ink: NDArray[np.bool_] | None = None,
) -> list[Instance]:
    """Connected components of `prob ≥ threshold`, touching ones split by watershed on distance.

    Args:
        prob: probability map (H, W) in [0, 1].
        tissue: tissue mask on the same grid (marker ink counted as tissue); glomeruli whose rim
            leaves tissue get "edge_cut".
        ink: marker ink on the same grid; glomeruli whose rim runs into ink get "ink".
        The others: see `InstanceParams`.
    """
    params = InstanceParams(map_mpp, threshold, min_diameter_um, split_distance_um, edge_fraction, image_edge_cut)
    lab, _ = ndimage.label(prob >= threshold)
    comps = [(i, sl) for i, sl in enumerate(ndimage.find_objects(lab), start=1) if sl is not None]
    return _components_to_instances(prob, lab, comps, tissue, params, ink)


class RowStreamExtractor:
    """The same instances as `extract_instances`, from a map whose rows become final top to bottom.

    The detector finishes the slide in raster order, so instance extraction (and everything after
    it) can run while it works on the rows below. A component is handled once it lies wholly above
    the final row with a margin, exactly as the whole-map extraction would handle it: components
    are identified by their bounding box, and each slab re-reads a few rows of context above.
    """

    MARGIN = 3  # rows: the component window (2) and the rim filter (3) must not be clipped by a slab edge

    def __init__(self, params: InstanceParams) -> None:
        self.params = params
        self.lo = 0  # every component starting above this row has been handled
        self._done: set[tuple[int, int, int, int]] = set()

    def feed(self, rows: Callable[[int, int], NDArray[np.float32]], height: int,
             tissue: NDArray[np.bool_] | None, final: int, *, end: bool = False,
             ink: NDArray[np.bool_] | None = None) -> list[Instance]:
        """Instances of components that are complete in map rows [0, final).

        Args:
            rows: (lo, hi) → probabilities of map rows lo..hi-1 (e.g. `ProbabilityCanvas.rows`).
            height: rows of the whole map.
            tissue: tissue mask of the whole map, or None.
            final: rows from here down may still change.
            end: the map is complete: handle everything left.
            ink: marker ink on the whole map, or None.
        """
        top = max(0, self.lo - self.MARGIN)
        bottom = height if end else min(height, final)
        if bottom <= top:
            return []
        slab = rows(top, bottom)
        lab, _ = ndimage.label(slab >= self.params.threshold)
        take: list[tuple[int, Slices]] = []
        next_lo = bottom
        for i, sl in enumerate(ndimage.find_objects(lab), start=1):
            if sl is None:
                continue
            key = (sl[0].start + top, sl[1].start, sl[0].stop + top, sl[1].stop)
            if key[0] < self.lo or key in self._done:
                continue  # handled in an earlier slab
            if not end and sl[0].stop > slab.shape[0] - self.MARGIN:
                next_lo = min(next_lo, key[0])  # may continue into rows that are not final yet
                continue
            take.append((i, sl))
            self._done.add(key)
        out = _components_to_instances(slab, lab, take, None if tissue is None else tissue[top:bottom], self.params,
                                       None if ink is None else ink[top:bottom])
        for inst in out:
            inst.polygon[:, 1] += top
            x0, y0, x1, y1 = inst.bbox
            inst.bbox = (x0, y0 + top, x1, y1 + top)
        self.lo = next_lo
        self._done = {k for k in self._done if k[2] > self.lo - self.MARGIN}
        return out


def transposed(inst: Instance) -> Instance:
    """An instance found on a transposed map, in the map's own coordinates.

    The vertex order is reversed too: a transpose mirrors the ring, and reversing restores its
    orientation, so a column sweep gives the same polygons as a row sweep.
    """
    x0, y0, x1, y1 = inst.bbox
    return Instance(polygon=np.ascontiguousarray(inst.polygon[::-1, ::-1]), bbox=(y0, x0, y1, x1), score=inst.score,
                    area_px=inst.area_px, flags=list(inst.flags), focus=inst.focus)


def _components_to_instances(
    prob: NDArray[np.float32], lab: NDArray[np.int32], comps: list[tuple[int, Slices]],
    tissue: NDArray[np.bool_] | None, params: InstanceParams, ink: NDArray[np.bool_] | None = None,
) -> list[Instance]:
    """Instances of the labelled components `comps` (morphology per component crop: the map is mostly empty)."""
    out: list[Instance] = []
    min_area = params.min_area
    parts_of: list[tuple[int, int, NDArray[np.bool_]]] = []
    for i, sl in comps:
        y0, x0 = max(0, sl[0].start - 2), max(0, sl[1].start - 2)
        y1, x1 = min(prob.shape[0], sl[0].stop + 2), min(prob.shape[1], sl[1].stop + 2)
        raw = lab[y0:y1, x0:x1] == i
        if raw.sum() < min_area:
            continue
        clean = ndimage.binary_fill_holes(ndimage.binary_opening(raw, structure=_CROSS), structure=_CROSS)
        sub, k = ndimage.label(clean, structure=_CROSS)
        for j in range(1, k + 1):
            parts_of.append((y0, x0, sub == j))
    for y0, x0, comp in parts_of:
        y1, x1 = y0 + comp.shape[0], x0 + comp.shape[1]
        if comp.sum() < min_area:
            continue
        dist = ndimage.distance_transform_edt(comp)
        peaks = _distance_peaks(dist, min_dist=params.min_dist, min_value=30.0 / params.map_mpp)
        if len(peaks) > 1:
            markers = np.zeros(comp.shape, np.int32)
            for k, (py, px) in enumerate(peaks, start=1):
                markers[py, px] = k
            parts = watershed(-dist, markers, mask=comp)
            masks = [parts == k for k in range(1, len(peaks) + 1)]
        else:
            masks = [comp]
        for m in masks:
            if float(m.sum()) < min_area:
                continue
            inst = _to_instance(m, prob[y0:y1, x0:x1], x0, y0)
            if inst is None:
                continue
            ring = _ring(m) if tissue is not None or ink is not None else None
            if tissue is not None and _share(ring, ~tissue[y0:y1, x0:x1]) > params.edge_fraction:
                inst.flags.append("edge_cut")
            if ink is not None and _share(ring, ink[y0:y1, x0:x1]) > params.edge_fraction:
                inst.flags.append("ink")
            if params.image_edge_cut and (inst.bbox[0] <= 0 or inst.bbox[1] <= 0 or inst.bbox[2] >= prob.shape[1]
                                          or inst.bbox[3] >= prob.shape[0]):
                inst.flags.append("edge_cut")
            out.append(inst)
    return out


def _distance_peaks(dist: NDArray[np.float64], *, min_dist: int, min_value: float) -> list[tuple[int, int]]:
    """Local maxima of a distance map at least `min_value` high and `min_dist` apart, strongest first.

    Same contract as skimage's `peak_local_max(min_distance=…, threshold_abs=…)` for this use, minus its
    per-call Python overhead (it was a sixth of instance extraction): a maximum filter finds candidates,
    a plateau counts once (its first pixel), and a greedy pass enforces the spacing.
    """
    if float(dist.max(initial=0.0)) < min_value:
        return []
    size = 2 * min_dist + 1
    cand = (dist == ndimage.maximum_filter(dist, size=size, mode="constant", cval=0.0)) & (dist >= min_value)
    lab, n = ndimage.label(cand, structure=_SQUARE)
    if n <= 1:
        ys, xs = np.nonzero(cand)
        return [(int(ys[0]), int(xs[0]))] if len(ys) else []
    firsts = ndimage.minimum_position(np.arange(lab.size).reshape(lab.shape), lab, index=np.arange(1, n + 1))
    pts = sorted(((float(dist[p]), (int(p[0]), int(p[1]))) for p in firsts), key=lambda t: -t[0])
    kept: list[tuple[int, int]] = []
    for _, (y, x) in pts:
        if all(max(abs(y - ky), abs(x - kx)) > min_dist for ky, kx in kept):
            kept.append((y, x))
    return kept


def _ring(m: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The 3-px ring around `m` (where edge_cut and ink are looked for)."""
    return np.asarray(ndimage.maximum_filter(m.astype(np.uint8), size=7).astype(bool) & ~m)


def _share(ring: NDArray[np.bool_] | None, where: NDArray[np.bool_]) -> float:
    """Share of `ring` that lies in `where` (outside tissue, or in ink)."""
    if ring is None or not ring.any():
        return 0.0
    return float(where[ring].mean())


def _to_instance(m: NDArray[np.bool_], prob: NDArray[np.float32], x0: int, y0: int) -> Instance | None:
    cs = find_contours(np.pad(m.astype(np.float32), 1), 0.5)
    if not cs:
        return None
    c = max(cs, key=len)
    xy = np.stack([c[:, 1] - 1 + x0 + 0.5, c[:, 0] - 1 + y0 + 0.5], axis=1)
    poly = Polygon(xy).simplify(0.4, preserve_topology=False)
    if not poly.is_valid:  # rare: fall back to the slower topology-preserving simplification
        poly = Polygon(xy).simplify(0.4)
    if poly.is_empty or poly.geom_type != "Polygon":
        return None
    pts = np.asarray(poly.exterior.coords, np.float64)
    ys, xs = np.nonzero(m)
    bbox = (int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + x0 + 1, int(ys.max()) + y0 + 1)
    return Instance(polygon=pts, bbox=bbox, score=float(prob[m].mean()), area_px=float(m.sum()))


class ProbabilityCanvas:
    """Slide-wide probability map at the model's output resolution, filled tile by tile.

    Each tile contributes only its centre (a `trim` margin is discarded except at the slide edge),
    because predictions near a tile border see less context; overlapping centres are averaged.
    """

    def __init__(self, width: int, height: int) -> None:
        self.sum = np.zeros((height, width), np.float32)
        self.weight = np.zeros((height, width), np.float32)

    def add(self, prob: NDArray[np.float32], x: int, y: int, trim: int) -> None:
        """Add a tile's probabilities whose top-left is (x, y) in map px."""
        h, w = prob.shape
        H, W = self.sum.shape
        tx0 = 0 if x <= 0 else trim
        ty0 = 0 if y <= 0 else trim
        tx1 = w if x + w >= W else w - trim
        ty1 = h if y + h >= H else h - trim
        gx0, gy0 = max(0, x + tx0), max(0, y + ty0)
        gx1, gy1 = min(W, x + tx1), min(H, y + ty1)
        if gx0 >= gx1 or gy0 >= gy1:
            return
        self.sum[gy0:gy1, gx0:gx1] += prob[gy0 - y : gy1 - y, gx0 - x : gx1 - x]
        self.weight[gy0:gy1, gx0:gx1] += 1

    @property
    def height(self) -> int:
        return int(self.sum.shape[0])

    @property
    def width(self) -> int:
        return int(self.sum.shape[1])

    def rows(self, lo: int, hi: int) -> NDArray[np.float32]:
        """Averaged probabilities of rows lo..hi-1 (0 where no tile contributed)."""
        s, w = self.sum[lo:hi], self.weight[lo:hi]
        return np.where(w > 0, s / np.maximum(w, 1), 0).astype(np.float32)

    def columns(self, lo: int, hi: int) -> NDArray[np.float32]:
        """Averaged probabilities of columns lo..hi-1, transposed: row i of the result is column lo + i."""
        s, w = self.sum[:, lo:hi].T, self.weight[:, lo:hi].T
        return np.ascontiguousarray(np.where(w > 0, s / np.maximum(w, 1), 0), np.float32)

    def result(self) -> NDArray[np.float32]:
        return self.rows(0, self.height)
