"""Probability map → glomerulus instances (polygons with scores).

Tiles are stitched into one slide-wide probability map before instances are extracted, so a
glomerulus crossing a tile border is one connected region: no duplicates, no split glomeruli.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from shapely.geometry import Polygon
from skimage.feature import peak_local_max
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
    """

    polygon: NDArray[np.float64]
    bbox: tuple[int, int, int, int]
    score: float
    area_px: float
    flags: list[str] = field(default_factory=list)


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
) -> list[Instance]:
    """Connected components of `prob ≥ threshold`, touching ones split by watershed on distance.

    Args:
        prob: probability map (H, W) in [0, 1].
        map_mpp: µm/px of the map.
        threshold: foreground probability.
        min_diameter_um: drop components smaller than a disc of this diameter.
        split_distance_um: minimum distance between two glomerulus centres when splitting (a
            peak also needs ≥ 30 µm to the boundary).
        tissue: tissue mask on the same grid; glomeruli whose rim leaves tissue get "edge_cut".
        edge_fraction: fraction of the rim outside tissue that marks an instance edge-cut.
        image_edge_cut: also flag instances touching the map border (for fields, not slides).
    """
    fg = prob >= threshold
    min_area = math.pi * (min_diameter_um / 2 / map_mpp) ** 2
    lab, n = ndimage.label(fg)
    if n == 0:
        return []
    out: list[Instance] = []
    min_dist = max(2, int(split_distance_um / map_mpp))  # two glomerulus centres are never closer than this
    # Morphology per component crop, not over the whole slide map: the map is mostly empty.
    comps: list[tuple[int, int, NDArray[np.bool_]]] = []
    for i, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        y0, x0 = max(0, sl[0].start - 2), max(0, sl[1].start - 2)
        y1, x1 = min(prob.shape[0], sl[0].stop + 2), min(prob.shape[1], sl[1].stop + 2)
        raw = lab[y0:y1, x0:x1] == i
        if raw.sum() < min_area:
            continue
        clean = ndimage.binary_fill_holes(ndimage.binary_opening(raw))
        sub, k = ndimage.label(clean)
        for j in range(1, k + 1):
            comps.append((y0, x0, sub == j))
    for y0, x0, comp in comps:
        y1, x1 = y0 + comp.shape[0], x0 + comp.shape[1]
        if comp.sum() < min_area:
            continue
        dist = ndimage.distance_transform_edt(comp)
        peaks = peak_local_max(dist, min_distance=min_dist, threshold_abs=30.0 / map_mpp, labels=comp.astype(np.int32))
        if len(peaks) > 1:
            markers = np.zeros(comp.shape, np.int32)
            for k, (py, px) in enumerate(peaks, start=1):
                markers[py, px] = k
            parts = watershed(-dist, markers, mask=comp)
            masks = [parts == k for k in range(1, len(peaks) + 1)]
        else:
            masks = [comp]
        for m in masks:
            area = float(m.sum())
            if area < min_area:
                continue
            inst = _to_instance(m, prob[y0:y1, x0:x1], x0, y0)
            if inst is None:
                continue
            if tissue is not None and _rim_outside(m, tissue[y0:y1, x0:x1]) > edge_fraction:
                inst.flags.append("edge_cut")
            if image_edge_cut and (inst.bbox[0] <= 0 or inst.bbox[1] <= 0 or inst.bbox[2] >= prob.shape[1]
                                   or inst.bbox[3] >= prob.shape[0]):
                inst.flags.append("edge_cut")
            out.append(inst)
    return out


def _rim_outside(m: NDArray[np.bool_], tissue: NDArray[np.bool_]) -> float:
    ring = ndimage.maximum_filter(m.astype(np.uint8), size=7).astype(bool) & ~m
    if not ring.any():
        return 0.0
    return float((~tissue[ring]).mean())


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

    def result(self) -> NDArray[np.float32]:
        return np.where(self.weight > 0, self.sum / np.maximum(self.weight, 1), 0).astype(np.float32)
