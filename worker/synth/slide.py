"""Write a rendered scene as a pyramidal tiled JPEG TIFF (generic or Aperio SVS) plus truth GeoJSON.

Pyramid levels are written as main IFDs (OpenSlide ignores SubIFD pyramids), tile by tile from
generators, so memory is bounded by the 1 µm/px raster plus one tile per worker.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from shapely.geometry import Polygon

from worker.synth.render import GLASS, crop_outline_um
from worker.synth.scene import FILE_TILE, MPP0, RASTER_MPP, Scene

Format = Literal["tiff", "svs"]
_FAKE_NAMES = ("YAMADA Taro", "SATO Hanako", "SUZUKI Ichiro", "TANAKA Yuki", "DOE Jane", "ROE Richard")
GLOMERULUS_CLASS = {"name": "Glomerulus", "color": [0, 160, 60]}


def _level_downsamples(w0: int, h0: int, step: int = 2) -> list[int]:
    """Pyramid downsamples down to ~512 px. `step` 2 is what NDPI/MRXS/Philips files have; Aperio
    scanners write 4× steps (40×: 0.25, 1, 4, 16 µm/px), where no level sits at the detector's 2 µm/px."""
    ds = [1]
    while max(w0, h0) / (ds[-1] * step) >= 512:
        ds.append(ds[-1] * step)
    return ds


def _noise_pool(seed: int, n: int = 4) -> list[NDArray[np.int16]]:
    rng = np.random.default_rng(seed + 99)
    return [np.round(rng.normal(0, 2.5, (FILE_TILE, FILE_TILE, 3))).astype(np.int16) for _ in range(n)]


def _block_mean(a: NDArray[np.uint8], k: int) -> NDArray[np.uint8]:
    """k×k box downsampling, in row strips so a full-slide raster never gets a float64 copy."""
    h, w = a.shape[0] // k * k, a.shape[1] // k * k
    if h == 0 or w == 0:
        return a[:1, :1].copy()
    out = np.empty((h // k, w // k, 3), np.uint8)
    step = max(1, 1024 // k) * k
    for y in range(0, h, step):
        blk = a[y : min(h, y + step), :w].astype(np.uint32)
        s = blk.reshape(blk.shape[0] // k, k, w // k, k, 3).sum(axis=(1, 3))
        out[y // k : y // k + s.shape[0]] = (s + (k * k) // 2) // (k * k)
    return out


def _tiles(
    raster: NDArray[np.uint8], tissue_blocks: NDArray[np.bool_], ds: int, size: tuple[int, int], seed: int,
    sparse: bool = True,
) -> Iterator[NDArray[np.uint8] | None]:
    """Tiles of one level, row-major; with `sparse`, None (an empty tile) where there is only glass.

    Aperio files are never written sparse: OpenSlide's Aperio reader treats an empty tile as missing,
    marks the tiles above it in every coarser level missing too, and paints those from level 0 (a
    first read of the 16 µm/px level then took 6 s). Aperio scanners write every tile."""
    r_ds = RASTER_MPP / MPP0  # level-0 px per raster px
    w, h = size
    pool = _noise_pool(seed) if ds < r_ds else None
    scale = ds / r_ds  # raster px per level px
    src: NDArray[np.uint8] = raster if scale <= 1 else _block_mean(raster, int(scale))
    s_scale = scale if scale <= 1 else 1.0
    bs = 128  # raster px per tissue block
    glass = np.broadcast_to(GLASS.astype(np.uint8), (FILE_TILE, FILE_TILE, 3))
    for ty in range(math.ceil(h / FILE_TILE)):
        for tx in range(math.ceil(w / FILE_TILE)):
            x0, y0 = tx * FILE_TILE, ty * FILE_TILE
            rx0, ry0 = x0 * scale, y0 * scale
            rx1, ry1 = (x0 + FILE_TILE) * scale, (y0 + FILE_TILE) * scale
            bx0, by0 = int(rx0 // bs), int(ry0 // bs)
            bx1, by1 = math.ceil(rx1 / bs) + 1, math.ceil(ry1 / bs) + 1
            if not tissue_blocks[by0:by1, bx0:bx1].any():
                # tifffile infers the dtype from the first item, so that one is never sparse
                yield glass.copy() if not sparse or ds >= 8 or (tx == 0 and ty == 0) else None
                continue
            if s_scale == 1.0:
                sx0, sy0 = x0, y0
                tile = np.empty((FILE_TILE, FILE_TILE, 3), np.uint8)
                tile[:] = GLASS.astype(np.uint8)
                part = src[sy0 : sy0 + FILE_TILE, sx0 : sx0 + FILE_TILE]
                tile[: part.shape[0], : part.shape[1]] = part
            else:
                ix0, iy0 = max(0, int(rx0) - 1), max(0, int(ry0) - 1)
                ix1, iy1 = math.ceil(rx1) + 2, math.ceil(ry1) + 2
                arr = np.empty((iy1 - iy0, ix1 - ix0, 3), np.uint8)
                arr[:] = GLASS.astype(np.uint8)
                part = src[iy0:iy1, ix0:ix1]
                arr[: part.shape[0], : part.shape[1]] = part
                win = Image.fromarray(arr)
                box = (rx0 - ix0, ry0 - iy0, rx1 - ix0, ry1 - iy0)
                tile = np.asarray(win.resize((FILE_TILE, FILE_TILE), Image.Resampling.BILINEAR, box=box))
                if pool is not None:
                    n = pool[(tx * 7 + ty * 13) % len(pool)]
                    tile = np.clip(tile.astype(np.int16) + n, 0, 255).astype(np.uint8)
            yield tile


def _label_image(seed: int) -> NDArray[np.uint8]:
    name = _FAKE_NAMES[seed % len(_FAKE_NAMES)]
    img = Image.new("RGB", (400, 460), (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.text((20, 30), "SYNTHETIC SLIDE", fill=(0, 0, 0))
    d.text((20, 80), f"Patient: {name}", fill=(0, 0, 0))
    d.text((20, 120), f"ID: RB-{seed:06d}", fill=(0, 0, 0))
    d.text((20, 160), "Kidney, needle biopsy", fill=(0, 0, 0))
    for i in range(40):  # a fake barcode
        if (seed >> (i % 20)) & 1 or i % 3 == 0:
            d.rectangle((20 + i * 8, 300, 24 + i * 8, 420), fill=(0, 0, 0))
    return np.asarray(img)


def write_slide(scene: Scene, raster: NDArray[np.uint8], out: Path, *, fmt: Format = "tiff", quality: int = 85,
                level_step: int = 2) -> None:
    """Write the pyramid. `raster` is the slide at RASTER_MPP µm/px from `render_raster`.

    Args:
        scene: the layout (for size, seed and stain).
        raster: (H, W, 3) uint8 at RASTER_MPP µm/px.
        out: destination file.
        fmt: "tiff" (generic tiled TIFF, resolution tags in cm) or "svs" (Aperio description + label).
        quality: JPEG quality.
        level_step: downsample between pyramid levels (2, or 4 as Aperio scanners write).
    """
    if level_step not in (2, 4):
        raise ValueError(f"level_step must be 2 or 4, not {level_step}")
    w0, h0 = scene.level0_size
    bs = 128
    nby, nbx = math.ceil(raster.shape[0] / bs), math.ceil(raster.shape[1] / bs)
    tissue_blocks = np.zeros((nby, nbx), bool)
    glass16 = GLASS.astype(np.int16)
    for by in range(nby):  # one block row at a time: no full-raster temporaries
        strip = raster[by * bs : (by + 1) * bs]
        diff = (np.abs(strip.astype(np.int16) - glass16).max(axis=2) > 6)
        for bx in range(nbx):
            tissue_blocks[by, bx] = bool(diff[:, bx * bs : (bx + 1) * bs].any())
    res = 1e4 / MPP0  # px per cm
    out.parent.mkdir(parents=True, exist_ok=True)
    with tifffile.TiffWriter(out, bigtiff=True) as tif:
        for i, ds in enumerate(_level_downsamples(w0, h0, level_step)):
            w, h = math.ceil(w0 / ds), math.ceil(h0 / ds)
            if fmt == "svs":
                head = f"{w0}x{h0} [0,0 {w0}x{h0}] ({FILE_TILE}x{FILE_TILE}) JPEG/RGB Q={quality}" if i == 0 else (
                    f"{w0}x{h0} -> {w}x{h} - ({FILE_TILE}x{FILE_TILE}) JPEG/RGB Q={quality}"
                )
                desc = (
                    f"Aperio Image Library v12.0.15 \r\n{head}|AppMag = 40|StripeWidth = 2040|"
                    f"ScanScope ID = SYNTH|Filename = synthetic-{scene.seed}|MPP = {MPP0}|Left = 0|Top = 0|"
                    f"Stain = {scene.stain.upper()}"
                )
                kw: dict[str, Any] = {"description": desc}
            else:
                kw = {"resolution": (res / ds, res / ds), "resolutionunit": "CENTIMETER"}
                if i == 0:
                    kw["description"] = f"glomcheck synthetic slide seed={scene.seed} stain={scene.stain}"
            tif.write(
                _tiles(raster, tissue_blocks, ds, (w, h), scene.seed, sparse=fmt != "svs"),
                shape=(h, w, 3),
                dtype=np.uint8,
                tile=(FILE_TILE, FILE_TILE),
                compression="jpeg",
                compressionargs={"level": quality},
                photometric="rgb",
                subfiletype=0 if i == 0 else 1,
                metadata=None,
                maxworkers=2,
                **kw,
            )
        if fmt == "svs":
            lab = _label_image(scene.seed)
            tif.write(lab, photometric="rgb", compression="lzw", subfiletype=1, metadata=None,
                      description=f"Aperio Image Library v12.0.15 \r\nlabel {lab.shape[1]}x{lab.shape[0]}")
            thumb = np.asarray(Image.fromarray(raster).resize((max(1, raster.shape[1] // 16), max(1, raster.shape[0] // 16))))
            macro = np.full((lab.shape[0], lab.shape[1] + thumb.shape[1] + 20, 3), 230, np.uint8)
            macro[:, : lab.shape[1]] = lab
            th = thumb[: lab.shape[0]]
            macro[: th.shape[0], lab.shape[1] + 10 : lab.shape[1] + 10 + th.shape[1]] = th
            tif.write(macro, photometric="rgb", compression="jpeg", subfiletype=9, metadata=None,
                      description=f"Aperio Image Library v12.0.15 \r\nmacro {macro.shape[1]}x{macro.shape[0]}")


def truth_geojson(scene: Scene) -> dict[str, Any]:
    """QuPath-compatible FeatureCollection of the glomeruli (level-0 px), findings as properties."""
    feats: list[dict[str, Any]] = []
    tissue = [sec.polygon() for sec in scene.sections]
    for g in scene.glomeruli:
        ring = g.outline() if g.crop is None else crop_outline_um(scene, g)
        if ring is None:
            continue
        poly = Polygon(ring).buffer(0)
        if g.edge_cut:
            poly = poly.intersection(tissue[g.section]).buffer(0)
        if poly.is_empty:
            continue
        if poly.geom_type != "Polygon":
            poly = max(poly.geoms, key=lambda p: p.area)
        coords = [[round(x / MPP0, 1), round(y / MPP0, 1)] for x, y in poly.exterior.coords]
        measurements = {k: v for k, v in g.findings.items() if v is not None}
        props: dict[str, Any] = {
            "objectType": "annotation",
            "classification": dict(GLOMERULUS_CLASS),
            "name": f"glom-{g.gid}",
            "isLocked": False,
            "measurements": measurements,
            "findings": g.findings,
            "edge_cut": g.edge_cut,
            "across_tile_border": g.across_tile_border,
            "source": "real_crop" if g.crop else "drawn",
        }
        if g.crop:
            props["crop"] = Path(g.crop).name
        feats.append({"type": "Feature", "id": f"glom-{g.gid}", "geometry": {"type": "Polygon", "coordinates": [coords]},
                      "properties": props})
    return {
        "type": "FeatureCollection",
        "features": feats,
        "properties": {"mpp": MPP0, "stain": scene.stain, "seed": scene.seed, "synthetic": True,
                       "composited": scene.composited,
                       # arterioles (glomerulus look-alikes, hard negatives for training): centre x, y and outer
                       # radius in level-0 px; not glomeruli, so not features (scoring ignores them)
                       "vessels": [[round(v.cx / MPP0, 1), round(v.cy / MPP0, 1), round(v.radius / MPP0, 1)]
                                   for v in scene.vessels]},
    }


def write_truth(scene: Scene, slide_path: Path) -> Path:
    """Write the truth GeoJSON beside the slide (same path, suffix .geojson)."""
    p = slide_path.with_suffix(".geojson")
    p.write_text(json.dumps(truth_geojson(scene)))
    return p
