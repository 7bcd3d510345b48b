"""Out-of-focus flag on real files: a synthetic slide blurred with known truth, and real PAS tissue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

from app.slides.reader import SlideReader
from worker.pipeline.focus import ABS_FLOOR, FOCUS_VERSION, FocusResult, assess_focus
from worker.pipeline.tissue import compute_tissue_mask
from worker.synth.cli import synth
from worker.synth.defocus import FLAG, defocus_slide

Box = tuple[float, float, float, float]


def _truth(gj: Path) -> tuple[list[Box], list[bool], list[bool]]:
    """Boxes, blurred (out_of_focus in the truth), edge-cut."""
    boxes, blurred, edge = [], [], []
    for f in json.loads(gj.read_text())["features"]:
        c = np.asarray(f["geometry"]["coordinates"][0])
        boxes.append((float(c[:, 0].min()), float(c[:, 1].min()), float(c[:, 0].max()), float(c[:, 1].max())))
        blurred.append(FLAG in f["properties"].get("flags", []))
        edge.append(bool(f["properties"].get("edge_cut")))
    return boxes, blurred, edge


def _assess(path: Path, boxes: list[Box]) -> list[FocusResult]:
    with SlideReader(path) as r:
        assert r.mpp is not None
        mask = compute_tissue_mask(r, mpp0=r.mpp[0], mask_mpp=16.0)
        return assess_focus(r, boxes, mpp0=r.mpp[0], tissue_mask=mask)


@pytest.fixture(scope="module")
def half_blurred(synth_tiff: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("focus") / "half-R4.tiff"
    defocus_slide(synth_tiff, out, radius_um=4.0, fraction=0.5, seed=3)
    return out


def test_blurred_glomeruli_are_flagged_and_sharp_ones_are_not(half_blurred: Path) -> None:
    boxes, blurred, edge = _truth(half_blurred.with_suffix(".geojson"))
    assert 0 < sum(blurred) < len(blurred)
    res = _assess(half_blurred, boxes)
    assert FOCUS_VERSION
    assert not any(fr.slide_blurred for fr in res)
    # sharp glomeruli are not flagged; the exception is known and documented in FOCUS.md: the edge-cut
    # glom-3 of this slide is a homogeneous tuft with little fine texture, which reads as soft (it is
    # already not assessable as edge-cut, so the flag changes nothing for it)
    assert not any(fr.out_of_focus for fr, b, e in zip(res, blurred, edge) if not b and not e), res
    hits = [fr.out_of_focus for fr, b in zip(res, blurred) if b]
    # 4 µm defocus: 94 % detected on synthetic slides (FOCUS.md); low-texture tufts can be missed
    assert sum(hits) >= max(1, round(2 / 3 * len(hits))), res


def test_defocus_is_deterministic_and_keeps_the_pyramid(synth_tiff: Path, half_blurred: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.tiff"
    defocus_slide(synth_tiff, again, radius_um=4.0, fraction=0.5, seed=3)
    assert _truth(again.with_suffix(".geojson"))[1] == _truth(half_blurred.with_suffix(".geojson"))[1]
    assert np.array_equal(tifffile.imread(again, key=2), tifffile.imread(half_blurred, key=2))
    with SlideReader(synth_tiff) as a, SlideReader(again) as b:
        assert a.level_dimensions == b.level_dimensions and a.mpp == b.mpp
        n_levels = a.level_count
    with tifffile.TiffFile(again) as t:  # pyramid levels as main IFDs: OpenSlide ignores SubIFDs
        assert all(not p.subifds for p in t.pages) and len(t.pages) == n_levels


def test_blurred_everywhere_flags_every_glomerulus(synth_tiff: Path, tmp_path: Path) -> None:
    """Documented behaviour: a slide blurred everywhere (4 µm) has a reference below ABS_FLOOR, so
    every glomerulus is flagged and `slide_blurred` says why."""
    out = tmp_path / "all-R4.tiff"
    defocus_slide(synth_tiff, out, radius_um=4.0, everywhere=True, seed=1)
    boxes, blurred, _ = _truth(out.with_suffix(".geojson"))
    assert all(blurred)
    res = _assess(out, boxes)
    assert all(fr.slide_blurred and fr.reference < ABS_FLOOR and fr.out_of_focus for fr in res)


def _field_tiff(png: Path, dst: Path, mpp: float = 0.5) -> None:
    a = np.asarray(Image.open(png).convert("RGB"))
    res = 1e4 / mpp
    with tifffile.TiffWriter(dst) as t:
        t.write(a, tile=(256, 256), compression="jpeg", compressionargs={"level": 90}, photometric="rgb",
                resolution=(res, res), resolutionunit="CENTIMETER", metadata=None)


def test_real_pas_field_is_sharp_and_its_blurred_copy_is_flagged(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "fields" / "aidpath-pas"
    gt = json.loads((root / "gt_boxes.json").read_text())
    im = next(i for i in gt["images"] if i["boxes"] and not any(i["touches_border"]))
    src = tmp_path / "field.tiff"
    _field_tiff(root / im["file"], src)
    boxes: list[Box] = [(x, y, x + w, y + h) for x, y, w, h in im["boxes"]]
    assert not any(fr.out_of_focus for fr in _assess(src, boxes))
    dst = tmp_path / "field-R4.tiff"
    defocus_slide(src, dst, radius_um=4.0, regions_px0=boxes, seed=1)
    res = _assess(dst, boxes)
    assert all(fr.out_of_focus and not fr.slide_blurred for fr in res)


def test_synth_cli_defocus_option_marks_truth(tmp_path: Path) -> None:
    out = tmp_path / "cli.tiff"
    r = CliRunner().invoke(synth, [str(out), "--seed", "5", "--defocus", "0.5", "--defocus-um", "3"])
    assert r.exit_code == 0, r.output
    d = json.loads(out.with_suffix(".geojson").read_text())
    flagged = [f for f in d["features"] if FLAG in f["properties"]["flags"]]
    assert flagged and all(f["properties"]["defocus_um"] == 3 for f in flagged)
    assert d["properties"]["defocus"]["radius_um"] == 3
    assert not list(tmp_path.glob(".defocus-*"))


def test_reference_drops_patches_that_turned_out_to_lie_on_a_glomerulus(synth_tiff: Path) -> None:
    """Patches are placed before the detector has found anything; a blurred (or merely smooth) tuft under
    one must not pull the slide's reference, so `decide` leaves out every patch overlapping a glomerulus."""
    from worker.pipeline.focus import PATCH_UM, FocusJudge

    with SlideReader(synth_tiff) as r:
        assert r.mpp is not None
        mpp0 = r.mpp[0]
        judge = FocusJudge(r, mpp0=mpp0, tissue_mask=compute_tissue_mask(r, mpp0=mpp0, mask_mpp=16.0))
        judge.measure_patches()
        patches = list(judge._patches or [])
        assert len(patches) >= 8
        # pretend the first three patches were glomeruli with a very low score
        judge._patches = [(cx, cy, 0.1 if i < 3 else v) for i, (cx, cy, v) in enumerate(patches)]
        half = PATCH_UM / mpp0 / 2
        boxes = [(cx - half / 2, cy - half / 2, cx + half / 2, cy + half / 2) for cx, cy, _ in patches[:3]]
        def hit(cx: float, cy: float) -> bool:
            return any(cx + half > x0 and cx - half < x1 and cy + half > y0 and cy - half < y1 for x0, y0, x1, y1 in boxes)

        kept = [v for cx, cy, v in judge._patches if not hit(cx, cy) and not np.isnan(v)]
        assert len(kept) >= len(patches) // 4 and 0.1 not in kept
        clear = float(np.median(kept))
        res = judge.decide(boxes, [0.1, 0.1, 0.1])
        assert judge.reference == pytest.approx(clear)
        assert all(fr.out_of_focus and fr.reference == pytest.approx(clear) for fr in res)
        # a box far from every patch leaves them all in (so the low three count again)
        everything = float(np.median([v for _, _, v in judge._patches if not np.isnan(v)]))
        assert judge.reference_excluding([(-10.0, -10.0, -5.0, -5.0)]) == pytest.approx(everything)


def test_tissue_pixels_erosion_equals_scipy_three_cross_passes() -> None:
    """The focus score's tissue mask erodes with shifted ANDs for speed: it must equal the
    three 4-connected erosions the calibration was measured with, borders included."""
    from scipy import ndimage

    from worker.pipeline.focus import _tissue_pixels

    rng = np.random.default_rng(7)
    nonempty = 0
    for _ in range(20):
        rgb = np.full((96, 112, 3), 250, np.uint8)
        blobs = ndimage.binary_dilation(rng.random((96, 112)) > 0.985, iterations=int(rng.integers(2, 9)))
        rgb[blobs] = rng.integers(60, 200, 3, dtype=np.uint8)
        rgb[rng.random((96, 112)) > 0.97] = 40  # isolated dark specks erode away
        r, g, b = (rgb[..., i].astype(int) for i in range(3))
        tissue = ((np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)) > 0.08 * 255) | (
            np.maximum(np.maximum(r, g), b) < 0.75 * 255)
        want = ndimage.binary_erosion(tissue, iterations=3)
        got = _tissue_pixels(rgb)
        assert np.array_equal(got, want)
        nonempty += bool(want.any()) and not want.all()
    assert nonempty >= 15  # the cases compared are not trivially empty
