"""The shipped proteinuria model: integrity, honesty of its card, and re-training reproducibility."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from models.training import cohort
from models.training.proteinuria import INPUTS, proteinuria
from worker import proteinuria as serving

SHIPPED = Path(serving.DEFAULT_MODEL_DIR)


def test_shipped_card_is_loud_about_synthetic_cohort_and_matches_file() -> None:
    card = json.loads((SHIPPED / "card.json").read_text())
    assert card["synthetic_cohort"] is True and card["cohort"]["synthetic"] is True
    assert "SYNTHETIC" in card["caveat"] and "SYNTHETIC COHORT" in (SHIPPED / "CARD.md").read_text()
    assert hashlib.sha256((SHIPPED / card["file"]).read_bytes()).hexdigest() == card["sha256"]
    assert [i["name"] for i in card["inputs"]] == [n for n, _, _ in INPUTS]
    m = card["metrics_held_out"]
    assert m["n"] >= 500 and 0.74 <= m["interval_coverage"] <= 0.86
    assert m["mae_g_day"] < m["mae_g_day_baseline_carried_forward"]  # better than carrying P0 forward
    assert card["onnx_vs_numpy_max_abs_diff_g_day"] < 1e-4


def test_serving_predicts_with_ordered_interval() -> None:
    model = serving.load()
    x = {"age_years": 50, "female": 1, "egfr": 60, "systolic_bp_mmhg": 135, "urinary_protein_g_day": 2.0,
         "pct_global_sclerosis": 20, "pct_crescent": 5, "oxford_m": 1, "oxford_e": 0, "oxford_s": 1}
    p = model.predict(x)
    assert 0 <= p.low_g_day <= p.value_g_day <= p.high_g_day and p.level == 0.8 and p.warnings == []
    worse = model.predict({**x, "urinary_protein_g_day": 6.0, "pct_global_sclerosis": 60})
    assert worse.value_g_day > p.value_g_day
    assert model.missing({**x, "egfr": None}) == ["egfr"]
    with pytest.raises(ValueError):
        model.predict({**x, "egfr": None})
    assert model.predict({**x, "age_years": 110}).warnings  # outside the training range is flagged


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "m"
    shutil.copytree(SHIPPED, d)
    card = json.loads((d / "card.json").read_text())
    onnx_path = d / card["file"]
    onnx_path.write_bytes(onnx_path.read_bytes() + b"\0")
    with pytest.raises(serving.ModelUnavailable, match="sha256"):
        serving.load(d)
    with pytest.raises(serving.ModelUnavailable):
        serving.load(tmp_path / "absent")


def test_cohort_is_seeded_and_training_reproduces_the_shipped_model(tmp_path: Path) -> None:
    assert cohort.generate(50, 1) == cohort.generate(50, 1) != cohort.generate(50, 2)
    csv_path = tmp_path / "cohort.csv"
    r = CliRunner().invoke(cohort.cohort, [str(csv_path)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "model"
    r = CliRunner().invoke(proteinuria, [str(csv_path), "--out", str(out)])
    assert r.exit_code == 0, r.output
    new, shipped = json.loads((out / "card.json").read_text()), json.loads((SHIPPED / "card.json").read_text())
    assert new["sha256"] == shipped["sha256"]  # same seed, same bytes
    assert new["metrics_held_out"] == shipped["metrics_held_out"]


def test_real_cohort_needs_a_description(tmp_path: Path) -> None:
    csv_path = tmp_path / "c.csv"
    cohort.write_csv(cohort.generate(200, 3), csv_path)
    r = CliRunner().invoke(proteinuria, [str(csv_path), "--out", str(tmp_path / "o"), "--real-cohort"])
    assert r.exit_code != 0 and "cohort-description" in r.output


def test_onnx_equals_numpy_reference(tmp_path: Path) -> None:
    from models.training.proteinuria import build_onnx, fit, predict_numpy, run_onnx

    rows = cohort.generate(400, 11)
    x = np.array([[r["age_years"], r["sex"] == "female", r["egfr"], r["systolic_bp_mmhg"], r["urinary_protein"],
                   r["pct_global_sclerosis"], r["pct_crescent"], r["oxford_m"], r["oxford_e"], r["oxford_s"]]
                  for r in rows], dtype=float)
    y = np.array([r["urinary_protein_12m_g_day"] for r in rows], dtype=float)
    f = fit(x[:300], y[:300], x[300:], y[300:], 0.8)
    got = run_onnx(build_onnx(f, version="t"), x)
    want = predict_numpy(f, x)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
