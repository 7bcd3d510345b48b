"""Where the assessment finds thresholds and reliability: inline card, shipped card, or none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.assessment import service
from app.assessment.service import card_from_jobs
from app.db.models import AnalysisJob, Glomerulus


def test_inline_card_wins(tmp_path: Path) -> None:
    job = AnalysisJob(result={"model_card": {"findings": {"global_sclerosis": {"t_lo": 0.2, "t_hi": 0.8,
                                                                               "auc": 0.9, "kappa": 0.8}}}},
                      model_versions={"glom_classifier": "1"})
    info = card_from_jobs([job], [])
    assert info.thresholds["global_sclerosis"].t_hi == 0.8 and not info.card_missing


def test_shipped_card_of_the_version_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "glom_classifier").mkdir()
    (tmp_path / "glom_classifier" / "card.json").write_text(json.dumps({
        "version": "2.0",
        "thresholds": {"global_sclerosis": {"t_lo": 0.3, "t_hi": 0.6}, "fibrinoid_necrosis": {"t_lo": 0.4, "t_hi": 0.9}},
        "metrics": {"global_sclerosis": {"auc": 0.95, "kappa_literature": {"kappa": 0.8}},
                    "fibrinoid_necrosis": {"auc": 0.99, "kappa_literature": {"kappa": 0.9}}},
        "synthetic_only": ["fibrinoid_necrosis"],
    }))
    monkeypatch.setattr(service, "MODELS_DIR", tmp_path)
    job = AnalysisJob(result={}, model_versions={"glom_classifier": "2.0", "glom_detector": "1.0"})
    info = card_from_jobs([job], [])
    assert info.thresholds["global_sclerosis"].t_lo == 0.3 and info.metrics["global_sclerosis"]["kappa"] == 0.8
    assert info.synthetic_only == {"fibrinoid_necrosis"}
    other_version = AnalysisJob(result={}, model_versions={"glom_classifier": "3.0"})
    assert card_from_jobs([other_version], []).card_missing


def test_no_card_means_fallback_thresholds_and_unknown_metrics() -> None:
    g = Glomerulus(findings={"cellular_crescent": 0.9, "made_up": 0.5}, flags=[])
    info = card_from_jobs([AnalysisJob(result={}, model_versions={})], [g])
    assert info.card_missing and set(info.thresholds) == {"cellular_crescent"}
    assert info.metrics["cellular_crescent"] == {"auc": None, "kappa": None}
