"""The cell mosaic gives the detector the same pixels as reading each tile, while reading each pixel once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.slides.reader import SlideReader
from tests.conftest import SHARED_DATA
from worker.pipeline.mosaic import Rect, TileMosaic, merge_spans


def test_merge_spans() -> None:
    assert merge_spans([(5, 9), (0, 3), (3, 4), (8, 12), (20, 21)]) == [(0, 4), (5, 12), (20, 21)]
    assert merge_spans([]) == []


def test_tiles_equal_direct_reads_at_an_integer_scale(synth_tiff: Path) -> None:
    """At an exact pyramid level (0.25 → 2 µm/px = level ×8) band slices equal per-tile reads pixel for pixel."""
    with SlideReader(synth_tiff) as r:
        mpp0 = r.mpp[0]  # type: ignore[index]
        w, h = r.dimensions
        f = 2.0 / mpp0
        rects = [Rect(0, 0, 256, 192), Rect(192, 64, 256, 256), Rect(int(w / f) - 100, int(h / f) - 80, 128, 128)]
        m = TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=rects, band_rows=96, cell_cols=1000)
        got = dict(m.stream())
        for i, q in enumerate(rects):
            direct = r.read_rect_mpp(round(q.x * f), round(q.y * f), round(q.w * f), round(q.h * f), 2.0, mpp0=mpp0)
            hh, ww = direct.shape[:2]  # the last rect runs off the slide: beyond it is white in both
            assert np.array_equal(got[i][:hh, :ww], direct), i
            assert (got[i][hh:] == 255).all() and (got[i][:, ww:] == 255).all()
        # rects 0 and 1 overlap: bands 0–1 read their union once ([0, 448) wide), not 256 + 256
        assert m.spans(0) == [(0, 448)] and m.spans(1) == [(0, 448)]
        assert m.ready(0, 0, 448, 320) and not TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=rects).ready(0, 0, 8, 8)


def test_real_svs_non_integer_scale_and_crops() -> None:
    """A real Aperio slide (0.499 µm/px → 2 µm/px is ×4.008): slices agree with direct reads up to resampling."""
    with SlideReader(SHARED_DATA / "slides" / "CMU-1-Small-Region.svs") as r:
        mpp0 = r.mpp[0]  # type: ignore[index]
        rects = [Rect(0, 0, 320, 320), Rect(200, 300, 320, 320)]
        m = TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=rects)
        m.read_all()
        f = 2.0 / mpp0
        for q in rects:
            direct = r.read_rect_mpp(round(q.x * f), round(q.y * f), round(q.w * f), round(q.h * f), 2.0, mpp0=mpp0)
            got = m.region(q.x, q.y, q.w, q.h)[: direct.shape[0], : direct.shape[1]]
            assert np.abs(got.astype(int) - direct.astype(int)).mean() < 4.0
        crops = m.crops([(400 * f, 400 * f), (-50.0, -50.0)], 128)
        assert crops.shape == (2, 128, 128, 3)
        assert (crops[1][:60, :60] == 255).all()  # before the slide's corner: white, not an error
        assert crops[0].std() > 5  # real tissue, not padding


@pytest.mark.parametrize(("band_rows", "cell_cols"), [(1, 5), (7, 33), (128, 512), (200, 9)])
def test_region_spans_any_cell_size(synth_tiff: Path, band_rows: int, cell_cols: int) -> None:
    with SlideReader(synth_tiff) as r:
        mpp0 = r.mpp[0]  # type: ignore[index]
        m = TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=[Rect(10, 20, 64, 48)], band_rows=band_rows, cell_cols=cell_cols)
        m.read_all()
        ref = TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=[Rect(10, 20, 64, 48)], band_rows=48)
        ref.read_all()
        assert np.array_equal(m.region(10, 20, 64, 48), ref.region(10, 20, 64, 48))


def test_two_um_from_an_aperio_1um_level_matches_a_file_that_has_the_level(synth_tiff: Path) -> None:
    """Same scene, Aperio 4× steps vs 2× steps: 2 µm/px made from the 1 µm/px level by a 2×2 box (how
    scanners and our synth build levels) must be closer to the stored 2 µm/px level than a bilinear
    resize is; what remains is JPEG loss at 1 µm/px (the synthetic texture is fine-grained)."""
    from PIL import Image

    from tests.synth.fixtures import make_test_slide

    svs = make_test_slide("s11-step4.svs", 11, "pas", "svs", level_step=4)
    with SlideReader(svs) as a, SlideReader(synth_tiff) as b:
        assert 8 not in [round(d) for d in a.level_downsamples]
        made = a.read_rect_mpp(0, 0, *a.dimensions, 2.0)
        level_1um = a.read_region((0, 0), 1, a.level_dimensions[1])
        stored = b.read_rect_mpp(0, 0, *b.dimensions, 2.0)
    assert made.shape == stored.shape and made.flags.c_contiguous
    bilinear = np.asarray(Image.fromarray(level_1um).resize(made.shape[1::-1], Image.Resampling.BILINEAR))
    tissue = stored.min(axis=2) < 200
    assert tissue.mean() > 0.05

    def err(x: np.ndarray) -> float:
        return float(np.abs(x.astype(np.int16) - stored.astype(np.int16))[tissue].mean())

    assert err(made) < 0.9 * err(bilinear) and err(made) < 10, (err(made), err(bilinear))


def test_region_is_white_exactly_where_nothing_was_read(synth_tiff: Path) -> None:
    """A region over two rects on tissue and the gap between them: the read parts equal direct reads, the gap
    is white (regions wholly covered by read cells skip the white pre-fill, so both branches run here)."""
    with SlideReader(synth_tiff) as r:
        mpp0 = r.mpp[0]  # type: ignore[index]
        f = 2.0 / mpp0
        w, h = r.dimensions
        whole_slide = r.read_rect_mpp(0, 0, w, h, 2.0, mpp0=mpp0)
        ys, xs = np.nonzero(whole_slide.min(axis=2) < 200)  # tissue
        y0, x0 = int(np.median(ys)) - 24, int(np.median(xs)) - 130
        rects = [Rect(x0, y0, 64, 48), Rect(x0 + 160, y0, 64, 48)]
        m = TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=rects, band_rows=16, cell_cols=32)
        m.read_all()
        both = m.region(x0, y0, 224, 48)
        for q in rects:
            alone = m.region(q.x, q.y, q.w, q.h)  # wholly covered: no pre-fill
            direct = r.read_rect_mpp(round(q.x * f), round(q.y * f), round(q.w * f), round(q.h * f), 2.0, mpp0=mpp0)
            assert np.array_equal(alone, direct)
            assert np.array_equal(both[:, q.x - x0 : q.x - x0 + q.w], direct)
            assert (direct.min(axis=2) < 200).any()  # the check is on tissue, not on glass
        assert (both[:, 64:160] == 255).all()  # between the rects nothing was read
