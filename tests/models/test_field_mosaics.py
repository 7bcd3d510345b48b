"""Real fields stitched back into their tissue: neighbour finding, layout, truth, and the pipeline run on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from app.slides.reader import SlideReader
from worker.evaluation.fields import field_split
from worker.evaluation.mosaics import (
    assemble,
    evaluate_mosaics,
    find_neighbours,
    layout,
    mosaic_truth,
    write_pyramid,
)


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture: neighbouring pixels correlate as in tissue, distant ones do not."""
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.normal(size=(h, w)), 3).astype(np.float32)


def test_neighbours_and_layout_recover_a_cut_grid() -> None:
    big = _texture(192, 256, 1)  # cut into 3 rows × 4 columns of 64² tiles, named out of order
    order = np.random.default_rng(3).permutation(12)
    names = {(c, r): f"f{order[c * 3 + r]:02d}" for c in range(4) for r in range(3)}
    grey = {names[(c, r)]: big[r * 64 : (r + 1) * 64, c * 64 : (c + 1) * 64] for c in range(4) for r in range(3)}
    grey["zz-unrelated"] = _texture(64, 64, 2)
    pairs = find_neighbours(grey)
    assert len(pairs) == 3 * 3 + 2 * 4  # every shared edge of the grid, nothing else
    assert all("zz-unrelated" not in p[:2] for p in pairs)
    groups = layout(sorted(grey), pairs)
    assert [len(g) for g in groups] == [12, 1]
    assert groups[0] == {n: cr for cr, n in names.items()}


def test_real_fields_form_seven_groups_of_whole_glomeruli(shared_data: Path) -> None:
    root = shared_data / "fields" / "aidpath-pas"
    mosaics = assemble(root)
    assert sorted(len(m.cells) for m in mosaics) == [2, 2, 2, 2, 4, 6, 6]
    assert sum(len(m.cells) for m in mosaics) == 24
    truths = [t for m in mosaics for t in mosaic_truth(m)]
    # 27 regions in the fields, 21 cut by a field edge; stitched, they are 16 glomeruli and none is cut
    assert len(truths) == 16 and not any(t.dont_care for t in truths)
    heldout = {p.name for p in field_split(root, "heldout")}
    split = [t for m in mosaics for t in mosaic_truth(m, heldout) if set(m.cells) & heldout]
    assert sum(not t.dont_care for t in split) == 8  # whole and wholly inside held-out fields
    # the one group spanning both halves (10164, 10165 above 10169, 10170): its glomeruli reach the train half
    mixed = next(m for m in mosaics if {"10164.png", "10169.png"} <= set(m.cells))
    assert all(t.dont_care for t in mosaic_truth(mixed, heldout))


def test_stitched_group_opens_as_a_slide_with_its_pixels(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "fields" / "aidpath-pas"
    m = next(m for m in assemble(root) if set(m.cells) == {"10220.png", "10224.png"})
    assert m.cells == {"10220.png": (0, 0), "10224.png": (0, 1)}  # 10224 lies below 10220
    path = write_pyramid(m, tmp_path / "g.tiff", mpp=0.5)
    with SlideReader(path) as r:
        assert r.mpp == pytest.approx((0.5, 0.5))
        assert r.dimensions == (1024, 2048) and r.level_count >= 3
        lower = r.read_region((0, 1024), 0, (1024, 1024)).astype(np.int16)
    field = np.asarray(Image.open(root / "images" / "10224.png").convert("RGB")).astype(np.int16)
    assert float(np.abs(lower - field).mean()) < 3.0  # JPEG q95 of the same pixels


def test_pipeline_on_heldout_groups_accounts_for_every_glomerulus(shared_data: Path) -> None:
    r = evaluate_mosaics(shared_data / "fields" / "aidpath-pas", split="heldout")
    assert r["scorable"] == 8 and r["tp"] + r["fn"] == 8
    assert r["duplicates"] == 0
    assert r["tp"] >= 1  # the shipped detector finds real glomeruli in real tissue at all
    assert len(r["groups"]) == 4 and all(set(g["fields"]) & {p.name for p in field_split(
        shared_data / "fields" / "aidpath-pas", "heldout")} for g in r["groups"])


@pytest.mark.parametrize("split", ["heldout", "train"])
def test_cli_reports_the_stitched_tissue_figure(shared_data: Path, split: str) -> None:
    """`glomcheck evaluate --fields --split S` adds the stitched-tissue figure; the two field figures keep their keys."""
    import json

    from click.testing import CliRunner

    from worker.evaluation.cli import evaluate
    from worker.pipeline.models import DETECTOR, MODELS_DIR

    root = shared_data / "fields" / "aidpath-pas"
    res = CliRunner().invoke(evaluate, ["--fields", str(root), "--split", split])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert any(ln.startswith(f"stitched tissue ({split}):") for ln in lines)
    assert any(ln.startswith(f"fields ({split}):") for ln in lines) and any(ln.startswith(f"visible part ({split}):") for ln in lines)
    j = json.loads(lines[-1])
    for k in ("f1", "scorable", "visible_f1", "visible_scorable"):  # the field figures stay
        assert k in j
    whole = {"heldout": 8, "train": 7}[split]  # whole glomeruli wholly inside the half's stitched fields
    assert j["mosaic_scorable"] == j["mosaic_tp"] + j["mosaic_fn"] == whole
    assert j["mosaic_groups"] == 4 and j["mosaic_duplicates"] == 0 and j["mosaic_dont_care"] >= 1
    p, r = j["mosaic_precision"], j["mosaic_recall"]
    assert p == pytest.approx(j["mosaic_tp"] / max(1, j["mosaic_tp"] + j["mosaic_fp"]), abs=1e-4)
    assert j["mosaic_f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0, abs=1e-3)

    card = json.loads((MODELS_DIR / DETECTOR / "card.json").read_text())
    st = card["metrics"].get("real_tissue_stitched", {}).get(split)
    assert st is not None, "the card generator records the stitched-tissue figure per half"
    assert "stitched tissue: whole glomeruli" in (MODELS_DIR / DETECTOR / "CARD.md").read_text()
    if card["version"] == j["detector"]:  # the card states what this model measures now
        for k in ("tp", "fp", "fn", "f1", "scorable", "dont_care"):
            assert st[k] == j[f"mosaic_{k}"], k
