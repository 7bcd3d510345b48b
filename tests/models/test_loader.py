"""Model cards: the loader verifies SHA-256, refuses a tampered file clearly, and exposes the IO contract."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from worker.pipeline.models import (
    CLASSIFIER,
    DETECTOR,
    MODELS_DIR,
    ModelIntegrityError,
    load_model,
    sha256_file,
)

REQUIRED = {"task", "version", "input", "input_mpp", "stride", "normalisation", "stains", "classes", "thresholds", "metrics",
            "sha256", "training_data", "licence"}


@pytest.mark.parametrize("name", [DETECTOR, CLASSIFIER])
def test_shipped_cards_are_complete_and_hashes_match(name: str) -> None:
    d = MODELS_DIR / name
    card = json.loads((d / "card.json").read_text())
    assert REQUIRED <= set(card)
    assert card["sha256"] == sha256_file(d / "model.onnx")
    assert (d / "model.onnx").stat().st_size < 8 * 1024 * 1024  # "a few MB"
    assert (d / "CARD.md").exists()
    assert card["input"]["mpp"] > 0
    assert "CC BY-NC-SA 4.0" in json.dumps(card["training_data"])


def test_classifier_card_declares_synthetic_only_findings_and_thresholds() -> None:
    card = json.loads((MODELS_DIR / CLASSIFIER / "card.json").read_text())
    assert "global_sclerosis" not in card["synthetic_only"]
    assert len(card["synthetic_only"]) == 8
    for k in card["classes"]:
        th = card["thresholds"][k]
        assert 0 <= th["t_lo"] <= th["t_hi"] <= 1
        assert "auc" in card["metrics"][k] and "kappa_literature" in card["metrics"][k]


def test_loader_runs_and_refuses_tampered_model(tmp_path: Path) -> None:
    m = load_model(CLASSIFIER, threads=1)
    assert "CPUExecutionProvider" in m.providers
    crop = int(m.card["input"]["crop"])
    out = m.run(np.full((2, crop, crop, 3), 200, np.uint8))
    assert out.shape == (2, len(m.card["classes"]))
    shutil.copytree(MODELS_DIR / CLASSIFIER, tmp_path / CLASSIFIER)
    with (tmp_path / CLASSIFIER / "model.onnx").open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        load_model(CLASSIFIER, models_dir=tmp_path)


def test_loader_refuses_missing_card(tmp_path: Path) -> None:
    (tmp_path / DETECTOR).mkdir()
    with pytest.raises(ModelIntegrityError, match="card"):
        load_model(DETECTOR, models_dir=tmp_path)


@pytest.mark.parametrize("name", [DETECTOR, CLASSIFIER])
def test_fused_normalisation_equals_the_card_formula(name: str) -> None:
    """The fast x·scale − offset path gives the card's (x/255 − mean)/std for every uint8 value, per channel."""
    m = load_model(name)
    norm = m.card["input"]["normalisation"]
    x = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)  # (256, 3): every value in every channel
    batch = np.broadcast_to(x[None, :, None, :], (2, 256, 4, 3)).copy()
    got = m.normalise(batch)
    assert got.shape == (2, 3, 256, 4) and got.dtype == np.float32 and got.flags.c_contiguous
    want = ((batch.astype(np.float32) * np.float32(1 / 255.0) - np.asarray(norm["mean"], np.float32))
            / np.asarray(norm["std"], np.float32)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, want)  # bit-identical for the shipped constants
