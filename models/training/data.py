"""Training data from synthetic or real slides with QuPath GeoJSON, and from folders of real crops.

Everything is read through `SlideReader` at the model's µm/px, so a hospital's own slides with
QuPath annotations train exactly like our synthetic ones.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from app.assessment.findings import Finding
from app.slides.reader import SlideReader
from worker.evaluation.detection import is_glomerulus

FINDINGS: tuple[str, ...] = tuple(f.value for f in Finding)
SLIDE_SUFFIXES = (".tiff", ".tif", ".svs", ".ndpi", ".mrxs", ".scn")


def find_slides(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(slide, geojson) pairs from files or folders; a slide without a same-named .geojson is skipped."""
    out: list[tuple[Path, Path]] = []
    for p in paths:
        cands = sorted(p.iterdir()) if p.is_dir() else [p]
        for c in cands:
            if c.suffix.lower() in SLIDE_SUFFIXES and c.with_suffix(".geojson").exists():
                out.append((c, c.with_suffix(".geojson")))
    return out


@dataclass
class Annotation:
    """One annotated glomerulus: polygon in level-0 px and its labels (None = unknown)."""

    polygon: NDArray[np.float64]
    labels: dict[str, int | None]
    flags: list[str]


def read_annotations(geojson: Path) -> list[Annotation]:
    """Glomerulus polygons from a QuPath-style GeoJSON (FeatureCollection or a bare feature list)."""
    data: Any = json.loads(geojson.read_text())
    feats = data["features"] if isinstance(data, dict) else data
    out: list[Annotation] = []
    for f in feats:
        geom = f.get("geometry") or {}
        props = f.get("properties") or {}
        if not is_glomerulus(props):
            continue
        cls = (props.get("classification") or {}).get("name", "Glomerulus")
        polys = [geom["coordinates"]] if geom.get("type") == "Polygon" else (
            geom.get("coordinates", []) if geom.get("type") == "MultiPolygon" else [])
        labels: dict[str, int | None] = {k: None for k in FINDINGS}
        src = props.get("findings") or props.get("measurements") or {}
        for k in FINDINGS:
            v = src.get(k)
            labels[k] = None if v is None else int(float(v) >= 0.5)
        if labels["global_sclerosis"] is None and "sclero" in str(cls).lower():
            labels["global_sclerosis"] = 1
        flags = ["edge_cut"] if props.get("edge_cut") else []
        for poly in polys:
            out.append(Annotation(np.asarray(poly[0], np.float64), labels, flags))
    return out


def read_vessels(geojson: Path) -> NDArray[np.float64]:
    """Arterioles listed in a synthetic truth GeoJSON (properties.vessels: x, y, radius in level-0 px); (N, 3), maybe empty.

    They are glomerulus look-alikes (round, with a lumen and erythrocytes) and serve as hard negatives.
    """
    data: Any = json.loads(geojson.read_text())
    v = (data.get("properties") or {}).get("vessels") if isinstance(data, dict) else None
    return np.asarray(v or [], np.float64).reshape(-1, 3)


def rasterise(anns: list[Annotation], shape: tuple[int, int], scale: float, origin: tuple[float, float] = (0, 0)) -> NDArray[np.uint8]:
    """Binary mask (H, W) of the polygons, level-0 px × `scale` → mask px, shifted by `origin` (mask px)."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    d = ImageDraw.Draw(img)
    for a in anns:
        pts = [((x * scale) - origin[0], (y * scale) - origin[1]) for x, y in a.polygon]
        if len(pts) >= 3:
            d.polygon(pts, fill=1)
    return np.asarray(img, np.uint8)


def detector_patches(
    slides: list[tuple[Path, Path]],
    *,
    mpp: float,
    patch: int,
    out_stride: int,
    per_slide: int,
    rng: np.random.Generator,
    vessel_frac: float = 0.0,
    slide_weight: Any = None,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Patches (N, patch, patch, 3) at `mpp` and masks (N, patch/out_stride, ...) of glomeruli.

    Half the patches contain a glomerulus (random offset), half are random tissue. With
    `vessel_frac` > 0, that fraction of all patches is instead centred (random offset) on an arteriole
    listed in the truth (hard negatives; see `read_vessels`), when the slide lists any.
    `slide_weight(slide_path) -> float` multiplies `per_slide` for a slide (e.g. more patches from
    the stain/kind that fails most).
    """
    imgs: list[NDArray[np.uint8]] = []
    masks: list[NDArray[np.uint8]] = []
    for slide, gj in slides:
        anns = read_annotations(gj)
        vessels = read_vessels(gj) if vessel_frac > 0 else np.zeros((0, 3))
        n_slide = round(per_slide * (slide_weight(slide) if slide_weight is not None else 1.0))
        with SlideReader(slide) as r:
            if r.mpp is None:
                raise ValueError(f"{slide} has no µm/px")
            w0, h0 = r.dimensions
            s = r.mpp[0] / mpp  # level-0 px → model px
            W, H = int(w0 * s), int(h0 * s)
            whole = r.read_rect_mpp(0, 0, w0, h0, mpp) if W * H <= 6000 * 6000 else None
            if whole is not None:
                H, W = whole.shape[:2]
            full_mask = rasterise(anns, (H, W), s) if whole is not None else None
            sat = None
            if whole is not None:
                mx, mn = whole.max(axis=2).astype(np.int16), whole.min(axis=2).astype(np.int16)
                sat = (mx - mn) > 20
            centres = [a.polygon.mean(axis=0) * s for a in anns]
            vcentres = [(vx * s, vy * s) for vx, vy, _ in vessels]
            for k in range(n_slide):
                if centres and k % 2 == 0:
                    cx, cy = centres[int(rng.integers(len(centres)))]
                    x = int(cx - patch / 2 + rng.integers(-patch // 3, patch // 3 + 1))
                    y = int(cy - patch / 2 + rng.integers(-patch // 3, patch // 3 + 1))
                elif vcentres and rng.random() < 2 * vessel_frac:
                    cx, cy = vcentres[int(rng.integers(len(vcentres)))]
                    x = int(cx - patch / 2 + rng.integers(-patch // 3, patch // 3 + 1))
                    y = int(cy - patch / 2 + rng.integers(-patch // 3, patch // 3 + 1))
                else:
                    for _ in range(20):
                        x, y = int(rng.integers(0, max(1, W - patch))), int(rng.integers(0, max(1, H - patch)))
                        if sat is None or sat[y : y + patch, x : x + patch].mean() > 0.3:
                            break
                x, y = min(max(0, x), max(0, W - patch)), min(max(0, y), max(0, H - patch))
                if whole is not None and full_mask is not None:
                    img = _pad_to(whole[y : y + patch, x : x + patch], patch, 255)
                    m = _pad_to(full_mask[y : y + patch, x : x + patch], patch, 0)
                else:
                    x0, y0 = int(x / s), int(y / s)
                    img = _pad_to(r.read_rect_mpp(x0, y0, int(patch / s), int(patch / s), mpp), patch, 255)
                    m = rasterise(anns, (patch, patch), s, (x, y))
                imgs.append(img)
                mo = m.reshape(patch // out_stride, out_stride, patch // out_stride, out_stride).mean(axis=(1, 3))
                masks.append((mo >= 0.5).astype(np.uint8))
    return np.stack(imgs), np.stack(masks)


def _pad_to(a: NDArray[np.uint8], n: int, fill: int) -> NDArray[np.uint8]:
    if a.shape[0] == n and a.shape[1] == n:
        return a
    out = np.full((n, n) + a.shape[2:], fill, a.dtype)
    out[: a.shape[0], : a.shape[1]] = a[:n, :n]
    return out


def slide_crops(
    slides: list[tuple[Path, Path]], *, mpp: float, size: int, skip_edge_cut: bool = True
) -> tuple[NDArray[np.uint8], NDArray[np.float32], list[str]]:
    """Crops (N, size, size, 3) at `mpp` centred on each annotated glomerulus, labels (N, 9) with NaN = unknown."""
    imgs: list[NDArray[np.uint8]] = []
    labels: list[list[float]] = []
    groups: list[str] = []
    for slide, gj in slides:
        with SlideReader(slide) as r:
            assert r.mpp is not None
            m0 = r.mpp[0]
            half = size * mpp / m0 / 2
            for a in read_annotations(gj):
                if skip_edge_cut and a.flags:
                    continue
                x0, y0 = a.polygon.min(axis=0)
                x1, y1 = a.polygon.max(axis=0)
                cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
                img = r.read_rect_mpp(int(cx - half), int(cy - half), int(2 * half), int(2 * half), mpp)
                imgs.append(np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR)))
                labels.append([math.nan if a.labels[k] is None else float(a.labels[k]) for k in FINDINGS])  # type: ignore[arg-type]
                groups.append(slide.name)
    if not imgs:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, len(FINDINGS)), np.float32), []
    return np.stack(imgs), np.asarray(labels, np.float32), groups


@dataclass(frozen=True)
class CropRecord:
    """A real crop: image path, GS label, slide id, centre."""

    image: Path
    gs: int
    slide: str
    centre: str


def read_crop_folder(root: Path) -> list[CropRecord]:
    """Crops laid out like the shared glomeruli folder: labels.csv, or GS/nonGS folder names."""
    import csv

    out: list[CropRecord] = []
    if (root / "labels.csv").exists():
        with (root / "labels.csv").open() as fh:
            for row in csv.DictReader(fh):
                out.append(CropRecord(root / row["image"], int(row["label"] == "GS"), row.get("slide_id", ""),
                                      row.get("center") or row.get("centre") or ""))
    else:
        for lab in ("GS", "nonGS"):
            for p in sorted((root / "images" / lab).glob("*.png")) + sorted((root / lab).glob("*.png")):
                stem = p.stem
                slide = stem.rsplit("-", 1)[0]
                out.append(CropRecord(p, int(lab == "GS"), slide, slide.split("_")[0]))
    return out


def place_crop(
    rgb: NDArray[np.uint8], *, size: int, mpp: float, diameter_um: float = 200.0, aspect: float = 1.0,
    offset: tuple[int, int] = (0, 0),
) -> NDArray[np.uint8]:
    """Put a bbox-resized real crop (scale unknown) into a `size`² frame at `mpp` µm/px.

    The crop is assumed to span `diameter_um` (real glomeruli: 150–250 µm); the frame around it is
    filled by reflecting the crop, which keeps tissue-like context at the border.
    """
    dw = max(8, round(diameter_um * aspect / mpp))
    dh = max(8, round(diameter_um / aspect / mpp))
    py0 = (size - dh) // 2 + offset[1]
    px0 = (size - dw) // 2 + offset[0]
    pad_t, pad_l = max(0, py0), max(0, px0)
    pad_b, pad_r = max(0, size - (py0 + dh)), max(0, size - (px0 + dw))
    canvas = np.pad(np.asarray(Image.fromarray(rgb).resize((dw, dh), Image.Resampling.BILINEAR)),
                    ((pad_t, pad_b), (pad_l, pad_r), (0, 0)), mode="symmetric")
    cy0, cx0 = max(0, -py0), max(0, -px0)
    return np.ascontiguousarray(canvas[cy0 : cy0 + size, cx0 : cx0 + size])


EDGE_CUT_MODES = ("dont_care", "visible")  # of field_patches; "stitched" is mosaic_patches


def field_patches(
    images: list[Path],
    masks_dir: Path,
    *,
    field_mpp: float,
    mpp: float,
    patch: int,
    out_stride: int,
    per_field: int,
    rng: np.random.Generator,
    scales: tuple[float, ...] = (0.9, 1.0, 1.1),
    dont_care_margin_um: float = 16.0,
    edge_cut: str = "dont_care",
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Patches, masks and loss weights from real fields with binary glomerulus masks (PNG, red/white on black).

    Each field is resampled to `mpp` (times a small scale jitter, because the fields' µm/px is only
    inferred from the scanner). Mask components touching the field edge are glomeruli cut by the tile.
    With `edge_cut="dont_care"` (v1.2.0) their pixels plus a `dont_care_margin_um` ring get loss weight
    0 (neither glomerulus nor background), as in the primary evaluation. With `edge_cut="visible"` their
    visible part is a normal target (weight 1 everywhere, no ring): a patch never reaches beyond its field,
    so the visible mask is as trustworthy as a whole glomerulus's. The patch positions drawn from `rng`
    do not depend on `edge_cut`. Returns (N, patch, patch, 3), (N, p/s, p/s) targets, (N, p/s, p/s) weights.
    """
    if edge_cut not in EDGE_CUT_MODES:
        raise ValueError(f"edge_cut must be one of {EDGE_CUT_MODES}, not {edge_cut!r}")
    from scipy import ndimage

    imgs: list[NDArray[np.uint8]] = []
    ys: list[NDArray[np.uint8]] = []
    ws: list[NDArray[np.uint8]] = []
    for img_path in images:
        rgb = Image.open(img_path).convert("RGB")
        m = np.asarray(Image.open(masks_dir / img_path.name).convert("RGB"))
        fg = m[..., 0] > 128  # red (255,0,0) or white on black
        lab, n = ndimage.label(fg)
        dc = np.zeros_like(fg)
        for i in range(1, n + 1) if edge_cut == "dont_care" else ():  # "visible": nothing is don't-care
            comp = lab == i
            ys_, xs_ = np.nonzero(comp)
            if ys_.min() == 0 or xs_.min() == 0 or ys_.max() == fg.shape[0] - 1 or xs_.max() == fg.shape[1] - 1:
                dc |= comp
        if dc.any():
            dc = ndimage.binary_dilation(dc, iterations=max(1, round(dont_care_margin_um / field_mpp)))
        for sc in scales:
            side = round(rgb.width * field_mpp / mpp * sc / out_stride) * out_stride
            if side < patch:
                continue
            a = np.asarray(rgb.resize((side, side), Image.Resampling.BILINEAR))
            so = side // out_stride
            fo = np.asarray(Image.fromarray(fg.astype(np.uint8) * 255).resize((so, so), Image.Resampling.BILINEAR)) >= 128
            do = np.asarray(Image.fromarray(dc.astype(np.uint8) * 255).resize((so, so), Image.Resampling.BILINEAR)) > 0
            po = patch // out_stride
            for _ in range(per_field):
                x = int(rng.integers(0, side - patch + 1)) // out_stride * out_stride
                y = int(rng.integers(0, side - patch + 1)) // out_stride * out_stride
                imgs.append(a[y : y + patch, x : x + patch])
                ys.append(fo[y // out_stride : y // out_stride + po, x // out_stride : x // out_stride + po].astype(np.uint8))
                ws.append((~do[y // out_stride : y // out_stride + po, x // out_stride : x // out_stride + po]).astype(np.uint8))
    return np.stack(imgs), np.stack(ys), np.stack(ws)


def mosaic_patches(
    root: Path,
    names: list[str],
    *,
    field_mpp: float,
    mpp: float,
    patch: int,
    out_stride: int,
    per_field: int,
    rng: np.random.Generator,
    scales: tuple[float, ...] = (0.9, 1.0, 1.1),
    dont_care_margin_um: float = 16.0,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8], list[list[str]]]:
    """Patches, masks and loss weights from the fields `names` of `root` stitched back into their groups.

    Neighbouring fields are stitched (`worker.evaluation.mosaics.assemble` on `names` only), so a
    glomerulus cut by a shared field edge is a whole target. Only glomeruli touching the group's outer
    edge (image border or a glass cell) are don't care (weight 0 plus a `dont_care_margin_um` ring, as
    `field_patches` does for every edge-cut one); glass cells get weight 0 too, because their fill is
    artificial. Per group and scale, `per_field` × (fields in the group) patches, so the budget per field
    area matches `field_patches`; a position is drawn uniformly among those whose centre lies on a field.

    Returns:
        (N, patch, patch, 3) images, (N, p/s, p/s) targets, (N, p/s, p/s) weights, and the groups' field names.
    """
    from scipy import ndimage

    from worker.evaluation.mosaics import assemble

    imgs: list[NDArray[np.uint8]] = []
    ys: list[NDArray[np.uint8]] = []
    ws: list[NDArray[np.uint8]] = []
    groups: list[list[str]] = []
    po = patch // out_stride
    for m in assemble(root, names):
        groups.append(sorted(m.cells))
        lab, _ = ndimage.label(m.mask)
        cut = np.unique(lab[m.rim & m.mask])  # glomeruli cut by the group's outer edge
        dc = np.isin(lab, cut[cut > 0])
        if dc.any():
            dc = ndimage.binary_dilation(dc, iterations=max(1, round(dont_care_margin_um / field_mpp)))
        w_full = m.covered & ~dc
        rgb = Image.fromarray(m.image)
        h0, w0 = m.image.shape[:2]
        for sc in scales:
            f = field_mpp / mpp * sc
            hs, ws_ = (round(v * f / out_stride) * out_stride for v in (h0, w0))
            if min(hs, ws_) < patch:
                continue
            a = np.asarray(rgb.resize((ws_, hs), Image.Resampling.BILINEAR))
            so = (ws_ // out_stride, hs // out_stride)
            fo = np.asarray(Image.fromarray(m.mask.astype(np.uint8) * 255).resize(so, Image.Resampling.BILINEAR)) >= 128
            wo = np.asarray(Image.fromarray(w_full.astype(np.uint8) * 255).resize(so, Image.Resampling.BILINEAR)) >= 255
            cov = np.asarray(Image.fromarray(m.covered.astype(np.uint8) * 255).resize(so, Image.Resampling.NEAREST)) > 0
            # top-left corners (output px) of patches inside the image whose centre lies on a field
            ty, tx = np.nonzero(cov[po // 2 : so[1] - po + po // 2 + 1, po // 2 : so[0] - po + po // 2 + 1])
            for _ in range(per_field * len(m.cells)):
                k = int(rng.integers(0, ty.size))
                yo, xo = int(ty[k]), int(tx[k])
                y, x = yo * out_stride, xo * out_stride
                imgs.append(a[y : y + patch, x : x + patch])
                ys.append(fo[yo : yo + po, xo : xo + po].astype(np.uint8))
                ws.append(wo[yo : yo + po, xo : xo + po].astype(np.uint8))
    return np.stack(imgs), np.stack(ys), np.stack(ws), groups
