"""QuPath-compatible GeoJSON of the detected glomeruli of one slide (level-0 pixel coordinates), and of
the marker ink the analysis left out."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from app.db.models import Glomerulus

# QuPath classification colours (RGB) per glomerulus status.
COLOURS = {
    "normal": [0, 160, 0],
    "abnormal": [220, 0, 0],
    "indeterminate": [230, 160, 0],
    "not_assessable": [128, 128, 128],
}
_NS = uuid.UUID("4c6f6d63-6865-636b-2d72-657365617263")


def _ring(g: Glomerulus) -> list[list[float]]:
    """A closed ring; a degenerate polygon falls back to its bounding box so QuPath can still open it."""
    pts = [[float(x), float(y)] for x, y in (g.polygon or [])]
    if len({tuple(p) for p in pts}) < 3:
        x0, y0, x1, y1 = float(g.bbox_x0), float(g.bbox_y0), float(g.bbox_x1), float(g.bbox_y1)
        pts = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    if pts[0] != pts[-1]:
        pts.append(pts[0])
    return pts


def feature_collection(research_slide_id: str, glomeruli: Sequence[Glomerulus]) -> dict[str, Any]:
    """One annotation per glomerulus; ids are stable across exports (uuid5 of slide research id and index)."""
    features = []
    for g in sorted(glomeruli, key=lambda g: g.index):
        measurements: dict[str, float] = {"detection_score": round(float(g.detection_score), 4)}
        if g.area_um2 is not None:
            measurements["area_um2"] = round(float(g.area_um2), 1)
        measurements.update({f"p_{k}": round(float(v), 4) for k, v in sorted((g.findings or {}).items())})
        features.append({
            "type": "Feature",
            "id": str(uuid.uuid5(_NS, f"{research_slide_id}:{g.index}")),
            "geometry": {"type": "Polygon", "coordinates": [_ring(g)]},
            "properties": {
                "objectType": "annotation",
                "name": f"glomerulus {g.index}",
                "classification": {"name": f"Glomerulus: {g.status}", "color": COLOURS.get(g.status, [0, 0, 255])},
                "isLocked": False,
                "measurements": measurements,
                "flags": list(g.flags or []),
            },
        })
    return {"type": "FeatureCollection", "features": features}


INK_CLASS = {"name": "Ignore*", "color": [180, 180, 180]}  # QuPath's class for regions to leave out


def ink_features(regions: Sequence[Any]) -> list[dict[str, Any]]:
    """One `Ignore*` annotation per marker-ink region (GeoJSON polygon coordinates: exterior, then holes),
    as the pipeline reports them in `stats["ink_regions_px"]`; anything malformed is skipped."""
    out = []
    for i, rings in enumerate(regions, start=1):
        if not isinstance(rings, list) or not rings or not all(isinstance(r, list) and len(r) >= 4 for r in rings):
            continue
        out.append({
            "type": "Feature", "id": f"ink-{i}",
            "geometry": {"type": "Polygon", "coordinates": rings},
            "properties": {"objectType": "annotation", "classification": dict(INK_CLASS),
                           "name": f"marker ink {i} (left out of the analysis)", "isLocked": True},
        })
    return out
