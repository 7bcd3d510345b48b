"""The classifier's in-graph stain normalisation, test-time augmentation and ensemble (GlomNetN, TTAEnsemble)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from models.training.classifier import crossfit_platt, fit_platt
from models.training.common import MEAN, STD, export_onnx, hed_jitter, to_tensor, torch_ort_max_diff
from models.training.nets import TTA_TRANSFORMS, GlomNetN, TissueNorm, TTAEnsemble, dihedral


def _batch(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 230, (n, 128, 128, 3), dtype=np.uint8)
    img[:, :20] = 245  # white background band: excluded from the tissue statistics
    return img


def _warm(model: torch.nn.Module, x: torch.Tensor) -> None:
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + 0.3 * torch.randn_like(x))
    model.eval()


@pytest.mark.parametrize("mode", ["standardise", "gain"])
def test_tissue_norm_cancels_an_optical_density_gain(mode: str) -> None:
    x = to_tensor(_batch(2, 0))
    rgb = (x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)).clamp(1 / 255, 1)
    gain = torch.tensor([0.8, 1.2, 1.1]).view(1, 3, 1, 1)
    x2 = (torch.exp(torch.log(rgb) * gain) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    norm = TissueNorm(MEAN, STD, mode=mode)
    a, b = norm(x), norm(x2)
    assert torch.isfinite(a).all()
    # background pixels move a little with the gain (their OD is not exactly 0); tissue is invariant
    assert (a - b)[:, :, 30:].abs().max() < 0.05


@pytest.mark.parametrize("mode", ["standardise", "gain"])
def test_tissue_norm_survives_an_all_white_crop(mode: str) -> None:
    x = to_tensor(np.full((1, 128, 128, 3), 255, np.uint8))
    assert torch.isfinite(TissueNorm(MEAN, STD, mode=mode)(x)).all()


def test_gain_norm_keeps_contrast_that_standardising_removes() -> None:
    """Why v1.4.0 divides by the mean: a pale, homogeneous tuft must stay low-contrast for the network."""
    rng = np.random.default_rng(3)
    flat = np.clip(150 + rng.normal(0, 4, (1, 128, 128, 3)), 0, 255).astype(np.uint8)  # homogeneous matrix
    busy = np.clip(150 + rng.normal(0, 40, (1, 128, 128, 3)), 0, 255).astype(np.uint8)  # cells and lumina
    x = to_tensor(np.concatenate([flat, busy]))
    std = {m: TissueNorm(MEAN, STD, mode=m)(x).std(dim=(1, 2, 3)) for m in ("standardise", "gain")}
    assert std["standardise"][0] > 0.5 * std["standardise"][1]  # the flat one stretched towards unit variance
    assert std["gain"][0] < 0.25 * std["gain"][1]  # contrast kept


def test_tissue_norm_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError):
        TissueNorm(MEAN, STD, mode="histogram")


def test_dihedral_gives_eight_distinct_transforms() -> None:
    t = torch.arange(6.0).view(1, 1, 2, 3)
    assert len({tuple(dihedral(t, k).flatten().tolist()) + tuple(dihedral(t, k).shape) for k in range(8)}) == 8


def test_tta_ensemble_export_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x = to_tensor(_batch(3, 1))
    members = [GlomNetN(9, MEAN, STD) for _ in range(2)]
    for m in members:
        _warm(m, x)
    model = TTAEnsemble(members, 9).eval()
    model.cal_a[0], model.cal_b[0] = 1.7, -0.4
    with torch.no_grad():
        ref = model(x)
        manual = torch.stack([m(dihedral(x, k)) for m in members for k in range(8)]).mean(0)
    manual[:, 0] = manual[:, 0] * 1.7 - 0.4
    assert (ref - manual).abs().max() < 1e-4
    path = tmp_path / "cls.onnx"
    export_onnx(model, x[:2], path, spatial_dynamic=False)
    assert torch_ort_max_diff(model, path, x) < 1e-4  # batch size differs from the export example
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    one = sess.run(None, {"input": x[:1].numpy()})[0]
    assert np.abs(one - ref[:1].numpy()).max() < 1e-4
    # invariant to the transforms it averages over
    assert np.abs(sess.run(None, {"input": dihedral(x, 5).numpy()})[0] - ref.numpy()).max() < 1e-3


def test_hed_jitter_identity_and_range() -> None:
    x = to_tensor(_batch(2, 2))
    g = torch.Generator().manual_seed(0)
    assert (hed_jitter(x, g, sigma=0.0, bias=0.0) - x).abs().max() < 1e-4
    y = hed_jitter(x, g)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert y.min() >= (0 - MEAN[0]) / STD[0] - 1e-5 and y.max() <= (1 - MEAN[0]) / STD[0] + 1e-5


def test_platt_recovers_a_shift() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-(z + 1.5)))).astype(np.float64)
    a, b = fit_platt(z, y)
    assert abs(a - 1) < 0.15 and abs(b - 1.5) < 0.2
    p = crossfit_platt(z, y, [str(i % 4) for i in range(4000)])
    assert p.shape == (4000,) and ((p > 0) & (p < 1)).all()


def test_previous_version_weights_reload_and_compose(tmp_path: Path) -> None:
    """glomnet_from_onnx rebuilds an exported GlomNet exactly; GSWithFindings takes GS from one net, the rest from the other."""
    from models.training.classifier import glomnet_from_onnx
    from models.training.nets import GlomNet, GSWithFindings

    torch.manual_seed(3)
    x = to_tensor(_batch(4, 3))
    old = GlomNet(9)
    _warm(old, x)
    path = tmp_path / "old.onnx"
    export_onnx(old, x[:2], path, spatial_dynamic=False)
    back = glomnet_from_onnx(path)
    with torch.no_grad():
        assert (back(x) - old(x)).abs().max() < 1e-4
        gs = TTAEnsemble([GlomNetN(9, MEAN, STD, pool=2)], 9, (0, 3)).eval()
        both = GSWithFindings(gs, back).eval()
        out = both(x)
        assert (out[:, 0] - gs(x)[:, 0]).abs().max() < 1e-6
        assert (out[:, 1:] - old(x)[:, 1:]).abs().max() < 1e-4
    p2 = tmp_path / "both.onnx"
    export_onnx(both, x[:2], p2, spatial_dynamic=False)
    assert torch_ort_max_diff(both, p2, x) < 1e-4


def test_shared_normalisation_equals_per_member() -> None:
    """TTAEnsemble normalises/pools once before the transforms; that equals normalising every transformed copy."""
    torch.manual_seed(4)
    x = to_tensor(_batch(2, 4))
    members = [GlomNetN(9, MEAN, STD, pool=2) for _ in range(2)]
    for m in members:
        _warm(m, x)
    with torch.no_grad():
        ref = torch.stack([m(dihedral(x, k)) for m in members for k in range(8)]).mean(0)
        out = TTAEnsemble(members, 9).eval()(x)
    assert (out - ref).abs().max() < 1e-4


def test_single_transform_is_applied() -> None:
    torch.manual_seed(5)
    x = to_tensor(_batch(2, 5))
    m = GlomNetN(9, MEAN, STD, pool=2).eval()
    with torch.no_grad():
        assert (TTAEnsemble([m], 9, (5,)).eval()(x) - m(dihedral(x, 5))).abs().max() < 1e-5


def test_gs_members_recovered_from_a_composed_graph(tmp_path: Path) -> None:
    """gs_members_from_onnx rebuilds the GS members (and Platt constants) of a shipped composed graph exactly."""
    from models.training.classifier import glomnet_from_onnx, gs_members_from_onnx
    from models.training.nets import GlomNet, GSWithFindings

    torch.manual_seed(6)
    x = to_tensor(_batch(3, 6))
    members = [GlomNetN(9, MEAN, STD, pool=2) for _ in range(3)]
    for m in members:
        _warm(m, x)
    rest = GlomNet(9)
    _warm(rest, x)
    gs = TTAEnsemble(members, 9, (0, 3)).eval()
    gs.cal_a[0], gs.cal_b[0] = 1.3, -0.2
    path = tmp_path / "both.onnx"
    export_onnx(GSWithFindings(gs, rest).eval(), x[:2], path, spatial_dynamic=False)
    back, cal = gs_members_from_onnx(path, "glomnet_n64")
    assert len(back) == 3 and abs(cal["cal_a"][0] - 1.3) < 1e-6 and abs(cal["cal_b"][0] + 0.2) < 1e-6
    with torch.no_grad():
        for m, b in zip(members, back):
            assert (m(x) - b(x)).abs().max() < 1e-4
    rest_path = tmp_path / "rest.onnx"
    export_onnx(rest, x[:2], rest_path, spatial_dynamic=False)
    with torch.no_grad():
        assert (glomnet_from_onnx(rest_path)(x) - rest(x)).abs().max() < 1e-4


def test_oof_calibration_and_fixed_thresholds(tmp_path: Path) -> None:
    """Platt and thresholds come from the out-of-fold file only; gs_report then uses them as given."""
    from models.training.classifier import gs_report, max_ba_cut, oof_calibration

    rng = np.random.default_rng(7)
    n = 400
    y = (rng.random(n) < 0.4).astype(np.float64)
    z = np.stack([(2 * y - 1) * 1.5 + rng.normal(0, 1.2, n) + 0.8 for _ in range(2)])
    z[1, :3] = np.nan  # seed 1 incomplete: only seed 0 is used
    slides = np.asarray([f"s{i % 8}" for i in range(n)])
    np.savez(tmp_path / "oof.npz", z=z, y=y, seeds=np.asarray([0, 1]), fold=np.asarray([i % 8 % 4 for i in range(n)]),
             slide=slides, centre=np.asarray(["A"] * n), image=np.asarray([f"{i}.png" for i in range(n)]), tta=2,
             epochs=40, arch="glomnet_n64")
    cal = oof_calibration(tmp_path / "oof.npz")
    assert cal["seeds"] == [0] and cal["centres"] == ["A"] and cal["folds"] == 4
    a, b = fit_platt(z[0], y)
    assert abs(cal["a"] - a) < 1e-3 and abs(cal["b"] - b) < 1e-3 and b < 0  # the +0.8 shift is taken out
    th = cal["thresholds"]
    assert 0 <= th["t_lo"] <= th["t_hi"] <= 1 and 0 < th["t_balanced"] < 1
    p = 1 / (1 + np.exp(-(a * z[0] + b)))
    assert abs(max_ba_cut(y, p) - th["t_balanced"]) < 1e-6
    # on other crops the given thresholds are used as they are, not re-chosen
    y2 = (rng.random(100) < 0.3).astype(np.float64)
    z2 = (2 * y2 - 1) + rng.normal(0, 1, 100)
    rep = gs_report(y2, z2, [f"t{i % 5}" for i in range(100)], cal=(cal["a"], cal["b"]), thresholds=th)
    assert rep["thresholds"]["t_hi"] == th["t_hi"] and rep["thresholds"]["t_lo"] == th["t_lo"]
    assert "balanced_accuracy_at_t_balanced" in rep


def test_oof_calibration_pools_runs_split_by_seed(tmp_path: Path) -> None:
    """The same folds run as two processes (seeds split) give the calibration of one run with all seeds."""
    import pytest

    from models.training.classifier import oof_calibration

    rng = np.random.default_rng(3)
    n = 200
    y = (rng.random(n) < 0.4).astype(np.float64)
    z = np.stack([(2 * y - 1) + rng.normal(0, 1, n) for _ in range(3)])
    common = {"y": y, "fold": np.asarray([i % 5 for i in range(n)]), "slide": np.asarray([f"s{i % 10}" for i in range(n)]),
              "centre": np.asarray(["A"] * n), "image": np.asarray([f"{i}.png" for i in range(n)]), "tta": 2,
              "epochs": 40, "arch": "glomnet_n64"}
    np.savez(tmp_path / "all.npz", z=z, seeds=np.asarray([0, 1, 2]), **common)
    np.savez(tmp_path / "s01.npz", z=z[:2], seeds=np.asarray([0, 1]), **common)
    np.savez(tmp_path / "s2.npz", z=z[2:], seeds=np.asarray([2]), **common)
    assert oof_calibration([tmp_path / "s01.npz", tmp_path / "s2.npz"]) == oof_calibration(tmp_path / "all.npz")
    with pytest.raises(ValueError, match="more than one"):
        oof_calibration([tmp_path / "s01.npz", tmp_path / "all.npz"])
    np.savez(tmp_path / "other.npz", z=z[2:], seeds=np.asarray([2]), **{**common, "epochs": 30})
    with pytest.raises(ValueError, match="epochs"):
        oof_calibration([tmp_path / "s01.npz", tmp_path / "other.npz"])

def test_max_ba_cut_separates_separable_classes() -> None:
    from models.training.classifier import max_ba_cut

    y = np.asarray([0, 0, 0, 1, 1], np.float64)
    p = np.asarray([0.1, 0.2, 0.3, 0.6, 0.9])
    t = max_ba_cut(y, p)
    assert 0.3 < t <= 0.6 and abs(t - 0.45) < 1e-6


def test_shipped_gs_members_are_what_the_card_says() -> None:
    """The shipped file's GS members, rebuilt with the card's recipe (architecture, normalisation, transforms,
    Platt), give the file's global-sclerosis logit: the card describes the graph that is served."""
    import json

    from models.training.classifier import gs_members_from_onnx
    from worker.pipeline.models import CLASSIFIER, MODELS_DIR

    d = MODELS_DIR / CLASSIFIER
    card = json.loads((d / "card.json").read_text())
    gs_card = card["training"]["global_sclerosis"]
    arch = card["training"]["global_sclerosis_recipe"]["arch"]
    members, cal = gs_members_from_onnx(d / "model.onnx", arch)
    assert len(members) == len(gs_card["seeds"])
    transforms = TTA_TRANSFORMS[int(gs_card["tta_transforms"])]
    ens = TTAEnsemble(members, len(card["classes"]), transforms).eval()
    ens.cal_a[0], ens.cal_b[0] = float(cal["cal_a"][0]), float(cal["cal_b"][0])
    assert abs(ens.cal_a[0].item() - gs_card["platt"]["a"]) < 1e-3 and abs(ens.cal_b[0].item() - gs_card["platt"]["b"]) < 1e-3
    x = to_tensor(_batch(4, 11))
    sess = ort.InferenceSession(str(d / "model.onnx"), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"input": x.numpy()})[0][:, 0]
    with torch.no_grad():
        got = ens(x)[:, 0].numpy()
    assert np.abs(got - want).max() < 1e-3
