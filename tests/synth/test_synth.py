"""Synthetic slides: readable by OpenSlide as pyramids with µm/px, deterministic, with truth beside them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from app.slides.reader import SlideReader
from worker.synth import make_slide
from worker.synth.scene import BORDER_UM, MPP0, build_scene


def test_generic_tiff_pyramid_and_truth(synth_tiff: Path) -> None:
    with SlideReader(synth_tiff) as r:
        assert r.vendor == "generic-tiff"
        assert r.mpp == pytest.approx((0.25, 0.25))
        assert r.level_count >= 4
        assert r.level_downsamples[:4] == pytest.approx([1, 2, 4, 8])
        low = r.read_rect_mpp(0, 0, *r.dimensions, 8.0)
        assert low.std() > 5  # there is tissue, not a blank page
    with tifffile.TiffFile(synth_tiff) as tf:
        assert len(tf.pages) >= 4 and all(p.is_tiled for p in tf.pages)  # main IFDs, not SubIFDs
        assert tf.pages[0].compression == 7  # JPEG
    truth = json.loads(synth_tiff.with_suffix(".geojson").read_text())
    feats = truth["features"]
    assert len(feats) >= 4
    f = feats[0]
    assert f["geometry"]["type"] == "Polygon"
    assert f["properties"]["classification"]["name"] == "Glomerulus"
    assert set(f["properties"]["findings"]) >= {"global_sclerosis", "cellular_crescent", "fibrinoid_necrosis"}
    assert any(x["properties"]["across_tile_border"] for x in feats)


def test_svs_has_aperio_metadata_and_label(synth_svs: Path) -> None:
    with SlideReader(synth_svs) as r:
        assert r.vendor == "aperio"
        assert r.mpp == pytest.approx((0.25, 0.25))
        assert r.objective_power == 40
        assert "label" in r.associated_image_names
        label = np.asarray(r.associated_image("label"))
        assert label.shape[0] > 100 and label.min() < 50  # text and barcode are drawn


def test_svs_writes_every_tile(synth_svs: Path) -> None:
    """OpenSlide's Aperio reader paints an empty tile, and every coarser tile above it, from level 0;
    real Aperio files have no empty tiles, so neither do ours (the generic TIFF may stay sparse)."""
    with tifffile.TiffFile(synth_svs) as tif:
        tiled = [p for p in tif.pages if p.is_tiled]
        assert len(tiled) >= 3
        assert all(n > 0 for p in tiled for n in p.databytecounts)


def test_across_border_glomeruli_sit_on_tile_borders() -> None:
    scene = build_scene(7, sections=1)
    across = [g for g in scene.glomeruli if g.across_tile_border]
    assert across
    for g in across:
        assert (g.cx / BORDER_UM) == pytest.approx(round(g.cx / BORDER_UM))
        assert (g.cx / MPP0) % 512 == pytest.approx(0)


def test_deterministic_per_seed(tmp_path: Path, synth_tiff: Path) -> None:
    again, truth = make_slide(tmp_path / "again.tiff", seed=11, stain="pas")
    assert truth.read_text() == synth_tiff.with_suffix(".geojson").read_text()
    with SlideReader(again) as a, SlideReader(synth_tiff) as b:
        ra = a.read_region((0, 0), 3, a.level_dimensions[3])
        rb = b.read_region((0, 0), 3, b.level_dimensions[3])
        assert np.array_equal(ra, rb)
    other = build_scene(12)
    assert [g.cx for g in other.glomeruli] != [g.cx for g in build_scene(11).glomeruli]


def test_composited_real_crops(tmp_path: Path, shared_data: Path) -> None:
    crops = shared_data / "glomeruli"
    slide, truth = make_slide(tmp_path / "comp.tiff", seed=3, stain="mt", glomeruli_from=crops, centres={"SAS"})
    feats = json.loads(truth.read_text())["features"]
    assert feats and all(f["properties"]["source"] == "real_crop" for f in feats)
    gs = {f["properties"]["findings"]["global_sclerosis"] for f in feats}
    assert gs <= {0, 1}
    assert all(f["properties"]["findings"]["cellular_crescent"] is None for f in feats)  # unknown, not "absent"
    with SlideReader(slide) as r:
        assert r.mpp == pytest.approx((0.25, 0.25))


def test_truth_lists_vessels_as_hard_negatives_not_glomeruli(synth_tiff: Path) -> None:
    from models.training.data import read_annotations, read_vessels
    from worker.evaluation.detection import load_truth

    gj = synth_tiff.with_suffix(".geojson")
    truth = json.loads(gj.read_text())
    vessels = read_vessels(gj)
    assert vessels.shape[1] == 3 and len(vessels) == len(truth["properties"]["vessels"]) >= 1
    w, h = SlideReader(synth_tiff).dimensions
    assert ((vessels[:, 0] > 0) & (vessels[:, 0] < w) & (vessels[:, 1] > 0) & (vessels[:, 1] < h)).all()
    # not features: neither training targets nor scoring truths
    assert len(read_annotations(gj)) == len(load_truth(gj)) == len(truth["features"])
    for x, y, r in vessels:
        for a in read_annotations(gj):
            cx, cy = a.polygon.mean(axis=0)
            assert np.hypot(cx - x, cy - y) > r  # a vessel centre never lies inside a glomerulus


def test_level0_of_a_sparse_slide_reads_glass_as_white(synth_tiff: Path) -> None:
    """The defocus and ink tools edit level 0 in memory: glass tiles that were never written must come back
    white, as a viewer shows them (tifffile alone returns zeros, and the copies had black glass)."""
    from worker.synth.defocus import read_level0

    with tifffile.TiffFile(synth_tiff) as tif:
        page = tif.pages[0]
        empty = [i for i, n in enumerate(page.databytecounts) if n == 0]
        th, tw, across = page.tilelength, page.tilewidth, -(-page.imagewidth // page.tilewidth)
    assert empty, "the test slide is expected to be sparse"
    level0 = read_level0(synth_tiff)
    with SlideReader(synth_tiff) as r:
        for i in empty[:3]:
            y, x = divmod(i, across)
            tile = level0[y * th : (y + 1) * th, x * tw : (x + 1) * tw]
            assert (tile == 255).all()
            w, h = min(tw, r.dimensions[0] - x * tw), min(th, r.dimensions[1] - y * th)
            np.testing.assert_array_equal(tile[:h, :w], np.asarray(r.read_region((x * tw, y * th), 0, (w, h))))
