"""The one way glomcheck reads slides: OpenSlide plus resolution-aware reads and known-quirk fixes.

Every slide access (ingest, tiles, the analysis pipeline) goes through `SlideReader`, so format
quirks are handled once. Quirk found in the wild: DICOM WSI files whose header says RGB while the
JPEG frames are YCbCr-encoded; OpenSlide trusts the header and returns false colours.

OpenSlide opens, identifies and describes every slide. For levels that are plain tiled TIFF pages
(generic TIFF, Aperio SVS) a read that starts on a whole level pixel is served from the decoded tiles
instead (`tiled_tiff.DirectTiles`): the same pixels at a fifth of the CPU, which on two cores is CPU
the models get back. Everything else, and any read the direct path declines, is OpenSlide's.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import openslide
from numpy.typing import NDArray
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

from app.slides.tiled_tiff import CACHE_BYTES as TILE_CACHE_BYTES
from app.slides.tiled_tiff import DirectTiles

RGB = NDArray[np.uint8]

YCBCR_AS_RGB = "ycbcr_as_rgb"


class SlideReadError(Exception):
    """A file OpenSlide cannot open or decode; the message is meant for people."""


def _ycbcr_to_rgb(img: Image.Image) -> Image.Image:
    """Reinterpret RGB-labelled pixels as JFIF YCbCr, keeping alpha."""
    alpha = img.getchannel("A") if img.mode == "RGBA" else None
    fixed = Image.frombytes("YCbCr", img.size, img.convert("RGB").tobytes()).convert("RGB")
    if alpha is not None:
        fixed.putalpha(alpha)
    return fixed


class _FixedSlide:
    """Duck-typed stand-in for OpenSlide that DeepZoomGenerator can drive, with colours corrected.

    Subclasses change only how a region is read; geometry and properties are the slide's own.
    """

    def __init__(self, osr: openslide.OpenSlide) -> None:
        self._osr = osr
        self.level_downsamples = osr.level_downsamples
        self.level_dimensions = osr.level_dimensions
        self.level_count = osr.level_count
        self.dimensions = osr.dimensions
        self.properties = osr.properties

    def get_best_level_for_downsample(self, downsample: float) -> int:
        return int(self._osr.get_best_level_for_downsample(downsample))

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image:
        return _ycbcr_to_rgb(self._osr.read_region(location, level, size))


class _DirectView(_FixedSlide):
    """The slide for DeepZoomGenerator with reads taking `SlideReader`'s direct tile path where it
    applies (identical pixels, less CPU per Deep Zoom tile; `bench/bench_tiles.py` has the A/B)."""

    def __init__(self, reader: SlideReader) -> None:
        super().__init__(reader._osr)
        self._reader = reader

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> Image.Image:
        arr = self._reader._read_direct(location, level, size)
        if arr is None:
            return self._osr.read_region(location, level, size)
        return Image.fromarray(arr).convert("RGBA")


def _first_dicom_jpeg(path: Path) -> bytes | None:
    """The first encapsulated JPEG frame of a DICOM file (the top-left tile of a TILED_FULL level)."""
    data = path.read_bytes()
    tag = data.rfind(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data, little endian
    if tag < 0:
        return None
    soi = data.find(b"\xff\xd8\xff", tag)
    if soi < 0:
        return None
    eoi = data.find(b"\xff\xd9", soi)
    return data[soi : eoi + 2] if eoi > 0 else None


def detect_dicom_ycbcr_mislabel(open_path: Path, osr: openslide.OpenSlide) -> bool:
    """Decide by measurement, not by header: decode the first frame with PIL (which follows the JPEG
    markers) and see whether OpenSlide's pixels match it as-is or only after YCbCr→RGB."""
    props = osr.properties
    if props.get("openslide.vendor") != "dicom" or props.get("dicom.PhotometricInterpretation") != "RGB":
        return False
    candidates = sorted(open_path.parent.glob("*.dcm"), key=lambda p: p.stat().st_size, reverse=True)
    if not candidates:
        return False
    jpeg = _first_dicom_jpeg(candidates[0])
    if jpeg is None:
        return False
    try:
        truth = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), dtype=np.int16)
    except OSError:
        return False
    h, w = truth.shape[:2]
    w0, h0 = osr.level_dimensions[0]
    w, h = min(w, w0), min(h, h0)
    region = osr.read_region((0, 0), 0, (w, h))
    as_is = np.asarray(region.convert("RGB"), dtype=np.int16)
    fixed = np.asarray(_ycbcr_to_rgb(region).convert("RGB"), dtype=np.int16)
    t = truth[:h, :w]
    return float(np.abs(fixed - t).mean()) + 1.0 < float(np.abs(as_is - t).mean())


class SlideReader:
    """An open slide with metadata, resolution-aware reads and colour fixes.

    Args:
        path: the file OpenSlide opens (for a DICOM series: any file of it; MRXS: the .mrxs).
        options: reader quirks recorded at ingest (`{"ycbcr_as_rgb": True}`); `None` = detect now.
        direct_tiles: decode plain tiled TIFF levels without OpenSlide's compositing when the read
            allows it (identical pixels); `None` = settings `direct_tile_reads`.
        tile_cache_bytes: decoded tiles kept for the direct reads (the analysis sweeps a slide once and
            revisits tiles for crops and focus windows; a viewer's reader needs far less).
    """

    def __init__(self, path: Path | str, *, options: Mapping[str, Any] | None = None,
                 direct_tiles: bool | None = None, tile_cache_bytes: int = TILE_CACHE_BYTES) -> None:
        self.path = Path(path)
        try:
            self._osr = openslide.OpenSlide(str(self.path))
        except openslide.OpenSlideUnsupportedFormatError as exc:
            raise SlideReadError("OpenSlide does not recognise this file as a slide it can read.") from exc
        except (openslide.OpenSlideError, OSError) as exc:
            raise SlideReadError(f"OpenSlide could not open the slide: {exc}") from exc
        if direct_tiles is None:
            from app.config import get_settings

            direct_tiles = get_settings().direct_tile_reads
        if options is None:
            options = {YCBCR_AS_RGB: detect_dicom_ycbcr_mislabel(self.path, self._osr)}
        self.options: dict[str, Any] = dict(options)
        self._view: Any = _FixedSlide(self._osr) if self.options.get(YCBCR_AS_RGB) else self._osr
        # Geometry is fixed for an open file; OpenSlide's properties ask the C library level by level on
        # every access, which was ~0.1 s of the pipeline's ~200 reads (each resolves its pyramid level).
        self._dimensions: tuple[int, int] = tuple(self._osr.dimensions)  # type: ignore[assignment]
        self._level_dimensions = tuple(tuple(d) for d in self._osr.level_dimensions)
        self._level_downsamples = tuple(float(d) for d in self._osr.level_downsamples)
        # Plain tiled TIFF levels are decoded directly (same pixels, ~5× less CPU; app/slides/tiled_tiff.py).
        self._direct: DirectTiles | None = None
        if direct_tiles and not self.options.get(YCBCR_AS_RGB):
            self._direct = DirectTiles.open(self.path, vendor=self.vendor, level_dimensions=self.level_dimensions,
                                            cache_bytes=tile_cache_bytes)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        self._osr.close()

    def __enter__(self) -> SlideReader:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- metadata --------------------------------------------------------------------------
    @property
    def properties(self) -> Mapping[str, str]:
        return self._osr.properties

    @property
    def vendor(self) -> str:
        return str(self.properties.get("openslide.vendor", "unknown"))

    @property
    def dimensions(self) -> tuple[int, int]:
        return self._dimensions

    @property
    def level_count(self) -> int:
        return len(self._level_downsamples)

    @property
    def level_dimensions(self) -> list[tuple[int, int]]:
        return list(self._level_dimensions)  # type: ignore[arg-type]

    @property
    def level_downsamples(self) -> list[float]:
        return list(self._level_downsamples)

    @property
    def mpp(self) -> tuple[float, float] | None:
        """Level-0 microns per pixel (x, y), or None when the file does not say."""
        x, y = self.properties.get("openslide.mpp-x"), self.properties.get("openslide.mpp-y")
        try:
            mx, my = float(x), float(y)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        if not (0.01 < mx < 100 and 0.01 < my < 100):
            return None  # e.g. a generic TIFF's 72-dpi resolution tag is not a microscope calibration
        return mx, my

    @property
    def objective_power(self) -> float | None:
        v = self.properties.get("openslide.objective-power")
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    @property
    def associated_image_names(self) -> list[str]:
        return sorted(self._osr.associated_images.keys())

    def associated_image(self, name: str) -> Image.Image:
        img: Image.Image = self._osr.associated_images[name]
        return img.convert("RGB")

    # -- pixels ----------------------------------------------------------------------------
    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> RGB:
        """RGB pixels of `size` at `level`, `location` in level-0 px; transparent areas become white."""
        arr = self._read_direct(location, level, size)
        if arr is not None:
            return arr
        try:
            img = self._view.read_region(location, level, size)
        except openslide.OpenSlideError as exc:
            raise SlideReadError(f"A tile of this slide could not be decoded: {exc}") from exc
        # PIL's C paths, not numpy masking: boolean-mask assignment over 3 channels cost ~5× the read.
        alpha = img.getchannel("A")
        if alpha.getextrema()[0] == 255:
            return np.asarray(img.convert("RGB"))
        white = Image.new("RGB", img.size, (255, 255, 255))
        white.paste(img, mask=alpha)  # beyond the slide / sparse scan areas: white; partial alpha blends
        return np.asarray(white)

    def _read_direct(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> RGB | None:
        """The region from decoded tiles, or None where OpenSlide must read it (see app/slides/tiled_tiff.py)."""
        if self._direct is None or not self._direct.serves(level):
            return None
        ds = self._level_downsamples[level]
        lx, ly = location[0] / ds, location[1] / ds
        if not (lx.is_integer() and ly.is_integer()):  # OpenSlide interpolates a sub-pixel start
            return None
        return self._direct.read(level, int(lx), int(ly), int(size[0]), int(size[1]))

    def best_level_for_mpp(self, target_mpp: float, *, mpp0: float | None = None) -> int:
        """The coarsest level that still has at least the requested resolution."""
        base = mpp0 or (self.mpp or (None, None))[0]
        if base is None:
            raise SlideReadError("The slide does not state its resolution (µm/px); supply it explicitly.")
        want = target_mpp / base
        best = 0
        for i, ds in enumerate(self._level_downsamples):
            if ds <= want * 1.0001:
                best = i
        return best

    def read_rect_mpp(self, x0: int, y0: int, w0: int, h0: int, target_mpp: float, *,
                      mpp0: float | None = None) -> RGB:
        """Read the level-0 rectangle (x0, y0, w0, h0) resampled to `target_mpp` µm/px.

        Reads from the nearest finer pyramid level and resizes, so the cost scales with the output.
        An exact integer step (e.g. 2 µm/px from the 1 µm/px level of an Aperio 40× file, whose
        levels go in 4× steps) is a k×k box average: the way scanners and our synthetic slides build
        pyramid levels, so the pixels match a file that has the level, and ~6× cheaper than a resize.
        """
        base = mpp0 or (self.mpp or (None, None))[0]
        if base is None:
            raise SlideReadError("The slide does not state its resolution (µm/px); supply it explicitly.")
        level = self.best_level_for_mpp(target_mpp, mpp0=base)
        ds = self._level_downsamples[level]
        lw, lh = max(1, math.ceil(w0 / ds)), max(1, math.ceil(h0 / ds))
        arr = self.read_region((int(x0), int(y0)), level, (lw, lh))
        out_w = max(1, round(w0 * base / target_mpp))
        out_h = max(1, round(h0 * base / target_mpp))
        if (lw, lh) == (out_w, out_h):
            return arr
        img = Image.fromarray(arr)
        k = round(target_mpp / (base * ds))
        if k >= 2 and math.isclose(target_mpp / (base * ds), k, rel_tol=1e-6):
            img = img.reduce(k)  # ceil(lw / k) px: at most one more than wanted, cropped below
            if img.width >= out_w and img.height >= out_h:
                a = np.asarray(img)
                return a if a.shape[:2] == (out_h, out_w) else np.ascontiguousarray(a[:out_h, :out_w])
        return np.asarray(img.resize((out_w, out_h), Image.Resampling.BILINEAR))

    def thumbnail(self, max_size: int) -> Image.Image:
        w, h = self.dimensions
        scale = max(w, h) / max_size
        level = int(self._osr.get_best_level_for_downsample(max(scale, 1.0)))
        lw, lh = self.level_dimensions[level]
        img = Image.fromarray(self.read_region((0, 0), level, (lw, lh)))
        img.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
        return img

    def deepzoom(self, *, tile_size: int = 254, overlap: int = 1) -> DeepZoomGenerator:
        view = self._view
        # Direct reads paint areas outside the slide white; DeepZoomGenerator paints them in the slide's
        # background colour, so a slide that declares another one keeps OpenSlide's reads.
        if self._direct is not None and self.properties.get("openslide.background-color", "FFFFFF").upper() == "FFFFFF":
            view = _DirectView(self)
        return DeepZoomGenerator(view, tile_size=tile_size, overlap=overlap, limit_bounds=True)
