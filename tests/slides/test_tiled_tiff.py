"""Direct tile reads (app/slides/tiled_tiff.py) return exactly OpenSlide's pixels, or leave the read to it."""

from __future__ import annotations

import dataclasses
import random
import threading
from pathlib import Path

import numpy as np
import pytest

from app.slides.reader import SlideReader, SlideReadError
from tests.conftest import SHARED_DATA
from tests.synth.fixtures import make_test_slide

SLIDES = SHARED_DATA / "slides"


def _random_reads(r: SlideReader, n: int, seed: int) -> list[tuple[tuple[int, int], int, tuple[int, int]]]:
    """Reads over every level: half start on a whole level pixel (served directly), half anywhere
    (sub-pixel starts, which OpenSlide interpolates); some reach past the slide's edges."""
    rng = random.Random(seed)
    out = []
    for level in range(r.level_count):
        lw, lh = r.level_dimensions[level]
        ds = r.level_downsamples[level]
        for k in range(n):
            w, h = rng.randint(1, 600), rng.randint(1, 600)
            if k % 2:
                x, y = round(rng.randint(-40, lw) * ds), round(rng.randint(-40, lh) * ds)
            else:
                x, y = rng.randint(-100, r.dimensions[0]), rng.randint(-100, r.dimensions[1])
            out.append(((x, y), level, (w, h)))
    return out


@pytest.mark.parametrize("kind", ["aperio-real", "deflate-generic", "synth-tiff", "synth-svs-4x"])
def test_direct_reads_equal_openslide(kind: str) -> None:
    path = {
        "aperio-real": lambda: SLIDES / "CMU-1-Small-Region.svs",  # real scanner file: RGB-coded JPEG tiles
        "deflate-generic": lambda: SLIDES / "generic-tiled-boxes.tiff",  # deflate, non-integer downsamples
        "synth-tiff": lambda: make_test_slide("s11.tiff", 11, "pas", "tiff"),  # YCbCr JPEG, 2x steps
        "synth-svs-4x": lambda: make_test_slide("s11-step4.svs", 11, "pas", "svs", level_step=4),  # Aperio-like 4x steps
    }[kind]()
    with SlideReader(path, direct_tiles=True) as fast, SlideReader(path, direct_tiles=False) as ref:
        assert fast._direct is not None and ref._direct is None
        for loc, level, size in _random_reads(fast, 24, seed=7):
            a, b = fast.read_region(loc, level, size), ref.read_region(loc, level, size)
            assert a.shape == b.shape == (size[1], size[0], 3)
            assert np.array_equal(a, b), (kind, loc, level, size)
        assert fast._direct.tiles_decoded > 0  # the fast path really served reads


@pytest.mark.parametrize("photometric", ["rgb", "ycbcr"])
def test_generic_tiff_jpeg_colour_conventions(photometric: str, tmp_path: Path) -> None:
    """JPEG tiles coded as RGB (no colour transform) or as YCbCr decode to OpenSlide's colours."""
    import tifffile

    rng = np.random.default_rng(0)
    img = (rng.random((700, 900, 3)) * 255).astype(np.uint8)
    img[100:400, 200:600] = (200, 80, 120)
    path = tmp_path / f"{photometric}.tiff"
    with tifffile.TiffWriter(path) as t:
        for i, level in enumerate((img, np.ascontiguousarray(img[::2, ::2]))):
            t.write(level, tile=(256, 256), photometric=photometric, compression="jpeg",
                    compressionargs={"level": 90}, subfiletype=1 if i else 0)
    with SlideReader(path, direct_tiles=True) as fast, SlideReader(path, direct_tiles=False) as ref:
        assert fast._direct is not None and fast.vendor == "generic-tiff"
        for level in range(fast.level_count):
            w, h = fast.level_dimensions[level]
            assert np.array_equal(fast.read_region((0, 0), level, (w + 10, h + 10)),
                                  ref.read_region((0, 0), level, (w + 10, h + 10)))


def test_other_formats_stay_with_openslide() -> None:
    with SlideReader(SLIDES / "ndpi-fluorescence-dapi.ndpi", direct_tiles=True) as r:
        assert r._direct is None
        assert r.read_region((0, 0), 0, (64, 64)).shape == (64, 64, 3)


def test_missing_or_damaged_tile_falls_back_to_openslide(tmp_path: Path) -> None:
    path = make_test_slide("s11.tiff", 11, "pas", "tiff")
    with SlideReader(path, direct_tiles=True) as r, SlideReader(path, direct_tiles=False) as ref:
        d = r._direct
        assert d is not None
        lv = d._levels[0]
        ref_px = ref.read_region((0, 0), 0, (300, 300))
        # a tile the file does not hold (byte count 0): not served here
        d._levels[0] = dataclasses.replace(lv, counts=(0,) + tuple(lv.counts[1:]))
        assert d.read(0, 0, 0, 300, 300) is None
        assert np.array_equal(r.read_region((0, 0), 0, (300, 300)), ref_px)
        # a tile whose bytes do not decode: not served here either
        d._levels[0] = dataclasses.replace(lv, offsets=(0,) + tuple(lv.offsets[1:]))
        assert d.read(0, 0, 0, 300, 300) is None
        assert np.array_equal(r.read_region((0, 0), 0, (300, 300)), ref_px)


def test_damaged_tile_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    """Garbage where a tile's JPEG should be: neither path crashes; OpenSlide's message reaches people."""
    import tifffile

    src = make_test_slide("s11.tiff", 11, "pas", "tiff")
    bad = tmp_path / "bad.tiff"
    data = bytearray(src.read_bytes())
    with tifffile.TiffFile(src) as t:
        page = t.pages[0]
        off, n = page.dataoffsets[0], page.databytecounts[0]
    data[off : off + n] = bytes(n)  # zeros: no JPEG markers at all
    bad.write_bytes(bytes(data))
    with SlideReader(bad, direct_tiles=True) as r, pytest.raises(SlideReadError):
        r.read_region((0, 0), 0, (64, 64))


def test_concurrent_reads_are_consistent() -> None:
    """The pipeline's reader, post-processing and focus threads share one reader."""
    path = make_test_slide("s11.tiff", 11, "pas", "tiff")
    with SlideReader(path, direct_tiles=True) as r, SlideReader(path, direct_tiles=False) as ref:
        reads = _random_reads(r, 16, seed=3)
        want = [ref.read_region(*q) for q in reads]
        errors: list[str] = []

        def work(offset: int) -> None:
            for i in range(len(reads)):
                j = (i + offset) % len(reads)
                if not np.array_equal(r.read_region(*reads[j]), want[j]):
                    errors.append(f"read {j} differs")

        threads = [threading.Thread(target=work, args=(k * 7,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


@pytest.mark.parametrize("kind", ["aperio-real", "synth-tiff"])
def test_deep_zoom_tiles_equal_openslide(kind: str) -> None:
    """The viewer's Deep Zoom tiles take the direct path too, with the same pixels."""
    path = SLIDES / "CMU-1-Small-Region.svs" if kind == "aperio-real" else make_test_slide("s11.tiff", 11, "pas", "tiff")
    with SlideReader(path, direct_tiles=True) as fast, SlideReader(path, direct_tiles=False) as ref:
        a, b = fast.deepzoom(), ref.deepzoom()
        assert type(a._osr).__name__ == "_DirectView"
        rng = random.Random(5)
        for level in range(a.level_count - 4, a.level_count):
            cols, rows = a.level_tiles[level]
            for _ in range(6):
                addr = (rng.randrange(cols), rng.randrange(rows))
                assert np.array_equal(np.asarray(a.get_tile(level, addr)), np.asarray(b.get_tile(level, addr))), (level, addr)
        assert fast._direct is not None and fast._direct.tiles_decoded > 0
