"""--edge-cut stitched (trial T2): train-half fields stitched into their groups, so shared-edge glomeruli are whole targets."""

from __future__ import annotations

import numpy as np

from tests.conftest import SHARED_DATA
from worker.evaluation.fields import field_split

FIELDS = SHARED_DATA / "fields" / "aidpath-pas"  # found wherever the checkout is; missing data fails, never skips


def _patches(names: list[str], per_field: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str]]]:
    from models.training.data import mosaic_patches

    return mosaic_patches(FIELDS, names, field_mpp=0.5, mpp=2.0, patch=192, out_stride=2, per_field=per_field,
                          rng=np.random.default_rng(0))


def test_stitching_turns_cut_glomeruli_into_weighted_targets() -> None:
    """10102 | 10103 share the edge that cuts their one glomerulus: lone fields mask it out, the pair trains on it."""
    from models.training.data import field_patches

    names = ["10102.png", "10103.png"]
    x, y, w, groups = _patches(names)
    assert groups == [names]
    assert x.shape == (2 * 3 * 20, 192, 192, 3) and y.shape == w.shape == (120, 96, 96)  # per field × fields × scales
    _, y0, w0 = field_patches([FIELDS / "images" / n for n in names], FIELDS / "masks", field_mpp=0.5, mpp=2.0,
                              patch=192, out_stride=2, per_field=20, rng=np.random.default_rng(0))
    assert y0.sum() > 0 and (y0 * w0).sum() == 0  # v1.2.0: the cut halves are never a target
    assert (y * w).sum() > 0.9 * y.sum() > 0  # stitched: whole, nearly every glomerulus pixel weighted


def test_outer_edge_and_glass_stay_dont_care() -> None:
    """10014 over 10063, 10064 right of 10063: one glass cell (where 10025 would be) above 10064, whose
    glomerulus is cut by that edge and stays don't care; 10014/10063 share a whole one; no patch centres on glass."""
    from scipy import ndimage

    x, y, w, groups = _patches(["10014.png", "10063.png", "10064.png"], per_field=40)
    assert groups == [["10014.png", "10063.png", "10064.png"]]
    glass = (x == 245).all(axis=3)[:, ::2, ::2]  # the glass fill, at output resolution
    assert glass.any()  # some patches reach into the empty cell
    inner = ndimage.binary_erosion(glass, structure=np.ones((1, 5, 5), bool))  # away from the resampled border
    assert inner.any() and (w[inner] == 0).all()
    assert not glass[:, 48, 48].any()  # no patch is centred on glass
    assert ((y > 0) & (w == 0)).any()  # 10064's glomerulus, cut by the group's outer edge
    assert ((y > 0) & (w == 1)).any()  # 10014/10063's, whole once stitched


def test_train_half_groups_never_borrow_a_heldout_field() -> None:
    from worker.evaluation.mosaics import assemble

    names = [p.name for p in field_split(FIELDS, "train") if p.name != "10165.png"]
    mosaics = assemble(FIELDS, names)
    assert sorted(len(m.cells) for m in mosaics) == [1, 2, 2, 6]
    assert {n for m in mosaics for n in m.cells} == set(names)
    assert any(set(m.cells) == {"10164.png"} for m in mosaics)  # its neighbours 10165 / 10169 are not in the set


def test_cli_offers_stitched() -> None:
    from click.testing import CliRunner

    from models.training.cli import train

    res = CliRunner().invoke(train, ["detector", "--help"])
    assert res.exit_code == 0 and "stitched" in res.output
