"""Marker ink: the colour-and-size rule on drawn images, and the whole pipeline on an inked synthetic slide."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from shapely.geometry import Point, Polygon, shape
from shapely.ops import unary_union

from app.config import get_settings
from app.slides.reader import SlideReader
from worker.evaluation.detection import evaluate_prediction, load_truth
from worker.pipeline.ink import ink_mask_from_rgb, ink_polygons
from worker.pipeline.instances import extract_instances
from worker.pipeline.mosaic import Rect, TileMosaic
from worker.pipeline.run import analyze_slide_file, result_geojson

MPP = 16.0  # µm/px of the tissue image the rule runs on
GLASS = (244, 244, 242)
PAS_PINK = (222, 168, 212)
BLUE, BLACK = (35, 60, 150), (35, 35, 40)


def _canvas(h: int = 160, w: int = 260) -> np.ndarray:
    return np.broadcast_to(np.asarray(GLASS, np.uint8), (h, w, 3)).copy()


def _disc(a: np.ndarray, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[: a.shape[0], : a.shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def _over(a: np.ndarray, where: np.ndarray, ink: tuple[int, int, int], density: float = 1.0) -> None:
    """Ink as a transmittance layer over whatever is there (as worker/synth/ink.py draws it)."""
    t = (np.asarray(ink, np.float32) / 255) ** density
    a[where] = (a[where].astype(np.float32) * t).astype(np.uint8)


def test_marker_dots_and_strokes_are_ink_tissue_and_small_dark_things_are_not() -> None:
    a = _canvas()
    tissue = np.zeros(a.shape[:2], bool)
    tissue[50:110, 20:240] = True
    a[tissue] = PAS_PINK
    dot = _disc(a, 25, 200, 20)  # 0.64 mm blue dot on glass
    _over(a, dot, BLUE)
    stroke = np.zeros_like(tissue)
    stroke[:, 60:85] = True  # 0.4 mm black stroke across glass and tissue
    _over(a, stroke, BLACK)
    glom = _disc(a, 80, 150, 6)  # a 0.2 mm dark neutral blob in tissue (a sclerosed glomerulus in silver)
    a[glom] = (55, 52, 58)
    thin = np.zeros_like(tissue)
    thin[130:134, 120:250] = True  # a 64 µm blue line on glass, not connected to ink
    _over(a, thin, BLUE)

    ink = ink_mask_from_rgb(a, mpp=MPP, stain="pas")
    assert ink[dot].mean() == 1.0 and ink[stroke].mean() == 1.0
    assert not ink[glom].any(), "a glomerulus-sized dark blob is not ink"
    assert not ink[thin].any(), "a line narrower than a marker's is not ink"
    near_stroke = ndimage.binary_dilation(stroke, iterations=2)
    assert not ink[tissue & ~near_stroke & ~glom].any()  # beyond the stroke's 16 µm rim, tissue stays tissue


def test_trichrome_collagen_is_not_ink_unless_the_stain_is_said_to_be_one_without_blue() -> None:
    a = _canvas()
    collagen = _disc(a, 80, 130, 50)  # 1.6 mm of saturated aniline-blue collagen (saturation 0.53)
    a[collagen] = (80, 110, 170)
    assert not ink_mask_from_rgb(a, mpp=MPP, stain="mt").any()
    assert not ink_mask_from_rgb(a, mpp=MPP, stain=None).any()  # unknown stain: the strict rule
    # on a PAS slide such a blue cannot be stain, and the loose rule takes it for ink: the stain matters
    assert ink_mask_from_rgb(a, mpp=MPP, stain="pas")[collagen].mean() > 0.95
    # real ink is found under the strict rule too
    b = _canvas()
    _over(b, collagen, BLUE)
    assert ink_mask_from_rgb(b, mpp=MPP, stain="mt")[collagen].mean() == 1.0


def test_pale_patches_of_a_ring_are_ink_and_the_field_it_encircles_is_not() -> None:
    a = _canvas(200, 200)
    yy, xx = np.mgrid[:200, :200]
    d = np.hypot(yy - 100, xx - 100)
    ring, inside = (d >= 55) & (d <= 80), d < 50  # 0.4 mm line; 4.9 mm² encircled
    a[inside] = PAS_PINK
    _over(a, ring, BLACK)
    pale = ring & (np.hypot(yy - 100, xx - 33) < 9)  # ink laid on thinly: value ~0.32, not near-black
    a[pale] = (82, 82, 86)
    lone = np.hypot(yy - 12, xx - 12) < 9  # the same grey far from any ink
    a[lone] = (82, 82, 86)

    ink = ink_mask_from_rgb(a, mpp=MPP, stain="pas")
    assert ink[ring].mean() == 1.0, "pale patches inside a mark are ink"
    assert not ink[inside & (d < 45)].any(), "the encircled field is not ink"
    assert not ink[lone].any(), "a pale patch away from confident ink is not ink"

    polys = ink_polygons(ink, downsample=MPP / 0.25)
    assert len(polys) == 1 and len(polys[0]) == 2, "one polygon with the encircled field as its hole"
    outer, hole = Polygon(polys[0][0]), Polygon(polys[0][1])
    assert outer.contains(hole) and Point(100 * 64, 100 * 64).within(hole)  # level-0 px (64 per mask px)


def test_instances_bordering_ink_are_flagged_ink_and_not_edge_cut() -> None:
    prob = np.zeros((80, 80), np.float32)
    prob[_disc(prob, 40, 40, 15)] = 0.9  # a 120 µm glomerulus at 4 µm/px
    tissue = np.ones_like(prob, bool)
    ink = np.zeros_like(tissue)
    ink[:, 50:] = True  # ink over its right third (the pipeline whitens it; here the map still holds it)
    (plain,) = extract_instances(prob, map_mpp=4.0, tissue=tissue)
    (inked,) = extract_instances(prob, map_mpp=4.0, tissue=tissue, ink=ink)
    assert plain.flags == [] and inked.flags == ["ink"]
    np.testing.assert_array_equal(plain.polygon, inked.polygon)


def test_mosaic_reads_blank_cells_as_glass(synth_tiff: Path) -> None:
    with SlideReader(synth_tiff) as r:
        mpp0 = r.mpp[0]  # type: ignore[index]
        rect = Rect(600, 300, 512, 256)  # mosaic px at 2 µm/px
        blank = np.zeros((r.dimensions[1] // 64 + 1, r.dimensions[0] // 64 + 1), bool)  # 16 µm/px cells
        blank[40:50, 80:100] = True
        plain = TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=[rect])
        masked = TileMosaic(r, mpp0=mpp0, mpp=2.0, rects=[rect], blank=(blank, 64.0))
        plain.read_all()
        masked.read_all()
        a, b = plain.region(rect.x, rect.y, rect.w, rect.h), masked.region(rect.x, rect.y, rect.w, rect.h)
    ys, xs = np.mgrid[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w]
    under = blank[((ys + 0.5) * 8 / 64).astype(int), ((xs + 0.5) * 8 / 64).astype(int)]
    assert under.any() and not under.all()
    assert (b[under] == 255).all()
    np.testing.assert_array_equal(a[~under], b[~under])


# -- the pipeline on an inked slide -----------------------------------------------------------------


@pytest.fixture(scope="module")
def inked(synth_tiff: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worker.synth.ink import ink_slide

    dst = tmp_path_factory.mktemp("ink") / "s11-ink.tiff"
    ink_slide(synth_tiff, dst, marks=3, seed=11)
    return dst


def _truth_ink(gj: Path) -> object:
    feats = json.loads(gj.read_text())["features"]
    return unary_union([shape(f["geometry"]) for f in feats if f["properties"]["classification"]["name"] == "Ignore*"])


def _analyse(path: Path, *, ink_check: bool, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("GLOMCHECK_INK_CHECK", "1" if ink_check else "0")
    get_settings.cache_clear()
    try:
        with SlideReader(path) as r:
            return analyze_slide_file(r, stain="pas").to_dict()
    finally:
        monkeypatch.delenv("GLOMCHECK_INK_CHECK")
        get_settings.cache_clear()


def test_marker_ink_is_left_out_of_the_analysis(inked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    truth_ink = _truth_ink(inked.with_suffix(".geojson"))
    off = _analyse(inked, ink_check=False, monkeypatch=monkeypatch)
    on = _analyse(inked, ink_check=True, monkeypatch=monkeypatch)

    def on_ink(res: dict) -> list[dict]:
        return [g for g in res["glomeruli"] if truth_ink.contains(Point(g["centroid_px"]))]

    assert len(on_ink(off)) >= 3, "the test slide must provoke the failure the rule prevents"
    assert all("ink" in g["flags"] for g in on_ink(on)), "whatever is still found on ink is flagged"
    assert len(on_ink(on)) <= 1
    assert all(g["status"] == "not_assessable" for g in on["glomeruli"] if "ink" in g["flags"])

    found = unary_union([Polygon(p[0], p[1:]).buffer(0) for p in on["stats"]["ink_regions_px"]])
    iou = found.intersection(truth_ink).area / found.union(truth_ink).area
    assert iou > 0.85, iou
    assert on["stats"]["ink_area_mm2"] == pytest.approx(found.area * 0.25 * 0.25 / 1e6, rel=0.15)

    # the glomeruli away from ink are all still found
    scores = evaluate_prediction(on, inked.with_suffix(".geojson"))["detection"]
    assert scores["fn"] == 0 and scores["n_truth"] >= 1, scores
    feats = json.loads(inked.with_suffix(".geojson").read_text())["features"]
    n_ink = sum(1 for f in feats if f["properties"]["classification"]["name"] == "Ignore*")
    assert n_ink >= 3 and len(load_truth(inked.with_suffix(".geojson"))) == len(feats) - n_ink, "ink is not a glomerulus"

    gj = result_geojson(on)
    ignored = [f for f in gj["features"] if f["properties"]["classification"]["name"] == "Ignore*"]
    assert len(ignored) == len(on["stats"]["ink_regions_px"]) >= 1


def test_a_clean_slide_is_unchanged_by_the_ink_rule(synth_tiff: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    off = _analyse(synth_tiff, ink_check=False, monkeypatch=monkeypatch)
    on = _analyse(synth_tiff, ink_check=True, monkeypatch=monkeypatch)
    assert on["stats"]["ink_area_mm2"] == 0 and on["stats"]["ink_regions_px"] == []
    assert off["stats"]["ink_version"] is None
    keep = ("bbox_px", "polygon_px", "findings", "flags", "status")
    assert [{k: g[k] for k in keep} for g in on["glomeruli"]] == [{k: g[k] for k in keep} for g in off["glomeruli"]]


def test_the_command_line_says_how_much_ink_it_left_out(inked: Path) -> None:
    from click.testing import CliRunner

    from worker.pipeline.cli import analyze

    out = CliRunner().invoke(analyze, [str(inked), "--stain", "pas"])
    assert out.exit_code == 0, out.output
    first = out.output.splitlines()[0]
    assert "marker ink left out:" in first and "mm²" in first
