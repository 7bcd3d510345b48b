"""Copy a pyramidal TIFF/SVS with chosen glomeruli or regions out of focus: test data with known truth.

Defocus is applied where a scanner produces it, at level 0, as a convolution with a disc (geometric
defocus) or Gaussian PSF of a stated radius in µm, faded in over `FEATHER_UM` because focus drifts
smoothly across a section; sensor noise is added back afterwards (a real camera adds it after the
optics, and a noiseless blur would be unrealistically easy to spot). Every coarser level is then
rebuilt from the new level 0, so all levels agree. Levels are written as main IFDs, not SubIFDs
(OpenSlide ignores SubIFDs); other pages (thumbnail, label, macro) are copied with their descriptions.

Level 0 is held in memory: meant for test-sized slides (`glomcheck synth --size small`, real fields).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import click
import numpy as np
import tifffile
from numpy.typing import NDArray
from PIL import Image, ImageDraw
from scipy import ndimage
from scipy.signal import fftconvolve

from app.slides.reader import SlideReader

Psf = Literal["disc", "gaussian"]
FEATHER_UM = 20.0  # width of the fade from sharp to blurred (µm)
GLOM_MARGIN_UM = 15.0  # blurred margin around a chosen glomerulus (µm), so its capsule is blurred too
FLAG = "out_of_focus"
Box = tuple[float, float, float, float]


def psf_kernel(radius_px: float, psf: Psf = "disc") -> NDArray[np.float32]:
    """Normalised 2-D PSF: an anti-aliased disc of `radius_px`, or a Gaussian with σ = radius/2
    (the σ whose blur of fine detail is closest to that disc)."""
    if radius_px <= 0:
        return np.ones((1, 1), np.float32)
    if psf == "gaussian":
        sigma = radius_px / 2
        r = math.ceil(3 * sigma)
        y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
        k = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    else:
        r = math.ceil(radius_px) + 1
        ss = 4  # supersampling for the anti-aliased rim
        y, x = (np.mgrid[-r * ss : (r + 1) * ss, -r * ss : (r + 1) * ss].astype(np.float32) + 0.5) / ss - 0.5
        inside = (x * x + y * y <= radius_px * radius_px).astype(np.float32)
        n = 2 * r + 1
        k = inside.reshape(n, ss, n, ss).mean(axis=(1, 3))
    out: NDArray[np.float32] = (k / k.sum()).astype(np.float32)
    return out


def _blur(rgb: NDArray[np.uint8], kernel: NDArray[np.float32]) -> NDArray[np.float32]:
    pad = kernel.shape[0] // 2
    out = np.empty(rgb.shape, np.float32)
    for c in range(3):
        padded = np.pad(rgb[..., c].astype(np.float32), pad, mode="reflect")
        out[..., c] = fftconvolve(padded, kernel, mode="valid")
    return out


def _alpha(shape: tuple[int, int], polygons: Sequence[NDArray[np.float64]], boxes: Sequence[Box], *,
           ox: int, oy: int, margin_px: float, feather_px: float) -> NDArray[np.float32]:
    """Blur weight 0–1 over a window at (ox, oy): 1 inside the shapes grown by `margin_px`, fading out."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    d = ImageDraw.Draw(img)
    for poly in polygons:
        d.polygon([(float(x - ox), float(y - oy)) for x, y in poly], fill=255)
    for x0, y0, x1, y1 in boxes:
        d.rectangle((x0 - ox, y0 - oy, x1 - ox, y1 - oy), fill=255)
    inside = np.asarray(img) > 0
    dist = ndimage.distance_transform_edt(~inside)
    a: NDArray[np.float32] = np.clip(1 - (dist - margin_px) / max(feather_px, 1e-6), 0, 1).astype(np.float32)
    return a


def apply_defocus(
    level0: NDArray[np.uint8], *, polygons: Sequence[NDArray[np.float64]] = (), boxes: Sequence[Box] = (),
    radius_um: float, mpp0: float, psf: Psf = "disc", noise_sigma: float = 2.0, seed: int = 0,
    margin_um: float = GLOM_MARGIN_UM,
) -> NDArray[np.float32]:
    """Blur `level0` in place inside the polygons (grown by `margin_um`) and boxes, level-0 px.

    Returns:
        the blur weight (0–1) at 1/16 of level 0, to tell which glomeruli ended up blurred.
    """
    kernel = psf_kernel(radius_um / mpp0, psf)
    margin_px, feather_px = margin_um / mpp0, FEATHER_UM / mpp0
    reach = int(margin_px + feather_px + kernel.shape[0])
    h, w = level0.shape[:2]
    weight = np.zeros((math.ceil(h / 16), math.ceil(w / 16)), np.float32)
    rng = np.random.default_rng(seed)
    shapes: list[tuple[Box, NDArray[np.float64] | None]] = [
        ((float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())), p) for p in polygons
    ] + [(b, None) for b in boxes]
    for (x0, y0, x1, y1), poly in shapes:
        ox, oy = max(0, int(x0) - reach), max(0, int(y0) - reach)
        ex, ey = min(w, math.ceil(x1) + reach), min(h, math.ceil(y1) + reach)
        if ex <= ox or ey <= oy:
            continue
        win = level0[oy:ey, ox:ex]
        a = _alpha(win.shape[:2], [poly] if poly is not None else [], [] if poly is not None else [(x0, y0, x1, y1)],
                   ox=ox, oy=oy, margin_px=0 if poly is None else margin_px, feather_px=feather_px)
        blurred = _blur(win, kernel)
        if noise_sigma > 0:
            blurred += rng.normal(0, noise_sigma, blurred.shape).astype(np.float32)
        mixed = win.astype(np.float32) * (1 - a[..., None]) + blurred * a[..., None]
        win[:] = np.clip(np.round(mixed), 0, 255).astype(np.uint8)
        wy, wx = oy // 16, ox // 16
        sub = a[:: 16, :: 16]
        tgt = weight[wy : wy + sub.shape[0], wx : wx + sub.shape[1]]
        np.maximum(tgt, sub[: tgt.shape[0], : tgt.shape[1]], out=tgt)
    return weight


def _downsample(level0: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """Area-average `level0` to (w, h): 2×2 box means while possible, then one PIL box resize."""
    a = level0
    w, h = size
    while a.shape[1] // 2 >= w and a.shape[0] // 2 >= h:
        hh, ww = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        s = a[:hh, :ww].astype(np.uint16)
        a = ((s[0::2, 0::2] + s[1::2, 0::2] + s[0::2, 1::2] + s[1::2, 1::2] + 2) // 4).astype(np.uint8)
    if (a.shape[1], a.shape[0]) != (w, h):
        a = np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.BOX))
    return a


def _page_kwargs(page: tifffile.TiffPage) -> dict[str, Any]:
    kw: dict[str, Any] = {"photometric": "rgb", "metadata": None, "subfiletype": int(page.subfiletype)}
    if page.description:
        kw["description"] = page.description
    tags = page.tags
    if "XResolution" in tags and "YResolution" in tags:
        unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 2
        kw["resolution"] = (tags["XResolution"].value, tags["YResolution"].value)
        kw["resolutionunit"] = int(unit)
    if page.is_tiled:
        kw["tile"] = (page.tilelength, page.tilewidth)
    comp = tifffile.COMPRESSION(page.compression).name
    if comp == "JPEG":
        kw["compression"], kw["compressionargs"] = "jpeg", {"level": 90}
    elif comp in ("LZW", "ADOBE_DEFLATE", "DEFLATE"):
        kw["compression"] = "zlib" if "DEFLATE" in comp else "lzw"
    return kw


def _tile_iter(a: NDArray[np.uint8], th: int, tw: int) -> Iterator[NDArray[np.uint8]]:
    for y in range(0, a.shape[0], th):
        for x in range(0, a.shape[1], tw):
            t = np.empty((th, tw, 3), np.uint8)
            t[:] = 255
            part = a[y : y + th, x : x + tw]
            t[: part.shape[0], : part.shape[1]] = part
            yield t


def read_level0(src: Path) -> NDArray[np.uint8]:
    """Level 0 of a tiled TIFF/SVS as a viewer sees it: tiles that were never written (sparse files:
    `glomcheck synth` leaves glass-only tiles empty) are glass, white, not the zeros tifffile returns."""
    with tifffile.TiffFile(src) as tif:
        page = tif.pages[0]
        assert isinstance(page, tifffile.TiffPage)
        level0 = page.asarray()
        if page.is_tiled and 0 in page.databytecounts:
            th, tw = page.tilelength, page.tilewidth
            across = math.ceil(page.imagewidth / tw)
            for i, n in enumerate(page.databytecounts):
                if n == 0:
                    y, x = divmod(i, across)
                    level0[y * th : (y + 1) * th, x * tw : (x + 1) * tw] = 255
    return level0


def write_like(src: Path, dst: Path, level0: NDArray[np.uint8]) -> None:
    """Write `dst` with the page layout and tags of `src`: level 0 replaced, pyramid levels rebuilt from
    it, other pages (thumbnail, label, macro) copied."""
    with tifffile.TiffFile(src) as tif:
        level_offsets = {lv.keyframe.offset for lv in tif.series[0].levels}
        dst.parent.mkdir(parents=True, exist_ok=True)
        with tifffile.TiffWriter(dst, bigtiff=level0.nbytes > 2**31) as out:
            for page in tif.pages:
                assert isinstance(page, tifffile.TiffPage)
                kw = _page_kwargs(page)
                if page.offset in level_offsets:
                    h, w = page.shape[:2]
                    arr = level0 if (h, w) == level0.shape[:2] else _downsample(level0, (w, h))
                else:
                    arr = page.asarray()
                if "tile" in kw:
                    th, tw = kw["tile"]
                    out.write(_tile_iter(arr, th, tw), shape=arr.shape, dtype=np.uint8, maxworkers=2, **kw)
                else:
                    out.write(arr, **kw)


def defocus_slide(
    src: Path, dst: Path, *, radius_um: float, fraction: float = 0.0, regions_px0: Sequence[Box] = (),
    everywhere: bool = False, psf: Psf = "disc", seed: int = 0, truth: Path | None = None,
) -> tuple[Path, Path | None]:
    """Write `dst`, a copy of the pyramidal TIFF/SVS `src` with part of it out of focus.

    Args:
        src: slide to copy (level 0 must fit in memory).
        dst: output slide; with a truth GeoJSON, the marked GeoJSON goes beside it (suffix .geojson).
        radius_um: PSF radius in µm (disc radius, or 2σ of the Gaussian).
        fraction: share of the truth's glomeruli to blur, chosen with `seed`.
        regions_px0: extra boxes (x0, y0, x1, y1), level-0 px, to blur.
        everywhere: blur the whole slide (every glomerulus is then out of focus).
        psf: "disc" (geometric defocus) or "gaussian".
        seed: chooses the glomeruli and the sensor noise: same inputs + seed → same output.
        truth: GeoJSON of glomeruli (level-0 px); default `src`'s .geojson when it exists.

    Returns:
        (dst, its GeoJSON or None). Blurred glomeruli carry "flags": ["out_of_focus"], `defocus_um`,
        and `defocus_weight`, the mean blur weight over the glomerulus (1 = fully blurred; a glomerulus
        next to a blurred one may be partly blurred: weight between 0 and 1, flagged when ≥ 0.5).
    """
    with SlideReader(src) as r:
        if r.mpp is None:
            raise ValueError(f"{src} does not state its µm/px")
        mpp0 = r.mpp[0]
    truth = truth if truth is not None else (src.with_suffix(".geojson") if src.with_suffix(".geojson").exists() else None)
    gj: dict[str, Any] | None = json.loads(truth.read_text()) if truth else None
    feats = gj["features"] if gj else []
    polys = [np.asarray(f["geometry"]["coordinates"][0], np.float64) for f in feats]
    rng = np.random.default_rng(seed)
    n_blur = round(fraction * len(feats))
    chosen = sorted(rng.permutation(len(feats))[:n_blur].tolist())
    level0 = read_level0(src)
    h, w = level0.shape[:2]
    boxes = [(0.0, 0.0, float(w), float(h))] if everywhere else list(regions_px0)
    weight = apply_defocus(level0, polygons=[polys[i] for i in chosen], boxes=boxes, radius_um=radius_um,
                           mpp0=mpp0, psf=psf, seed=seed + 1)
    write_like(src, dst, level0)
    if gj is None:
        return dst, None
    for f, poly in zip(feats, polys):
        img = Image.new("L", (weight.shape[1], weight.shape[0]), 0)
        ImageDraw.Draw(img).polygon([(float(x) / 16, float(y) / 16) for x, y in poly], fill=255)
        m = np.asarray(img) > 0
        wgt = float(weight[m].mean()) if m.any() else 0.0
        props = f["properties"]
        props["defocus_weight"] = round(wgt, 3)
        flags = [x for x in props.get("flags", []) if x != FLAG]
        if wgt >= 0.5:
            flags.append(FLAG)
            props["defocus_um"] = radius_um
            props["defocus_psf"] = psf
        props["flags"] = flags
    gj.setdefault("properties", {})["defocus"] = {"radius_um": radius_um, "psf": psf, "fraction": fraction,
                                                  "everywhere": everywhere, "seed": seed}
    out_gj = dst.with_suffix(".geojson")
    out_gj.write_text(json.dumps(gj))
    return dst, out_gj


@click.command()
@click.argument("src", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--radius-um", type=float, default=2.0, show_default=True, help="PSF radius, µm.")
@click.option("--fraction", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of the truth's glomeruli to blur.")
@click.option("--region", "regions", multiple=True, help="x0,y0,x1,y1 in level-0 px; repeatable.")
@click.option("--everywhere", is_flag=True, help="Blur the whole slide.")
@click.option("--psf", type=click.Choice(["disc", "gaussian"]), default="disc", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def main(src: Path, dst: Path, radius_um: float, fraction: float, regions: tuple[str, ...], everywhere: bool,
         psf: str, seed: int) -> None:
    """Copy SRC to DST with glomeruli/regions out of focus (python -m worker.synth.defocus)."""
    boxes = [tuple(float(v) for v in r.split(",")) for r in regions]
    slide, gj = defocus_slide(src, dst, radius_um=radius_um, fraction=fraction, regions_px0=boxes,  # type: ignore[arg-type]
                              everywhere=everywhere, psf=psf, seed=seed)  # type: ignore[arg-type]
    click.echo(json.dumps({"slide": str(slide), "truth": str(gj) if gj else None}))


if __name__ == "__main__":
    main()
