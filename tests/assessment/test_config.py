from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.assessment import AssessmentConfig


def test_defaults_are_domain_md_values() -> None:
    c = AssessmentConfig()
    assert (c.adequacy_adequate_n, c.adequacy_minimal_n) == (10, 7)
    assert c.mestc_min_n == 8
    assert c.berden_min_n == 10
    assert c.h_grade_cutoffs == (25.0, 50.0, 75.0)
    assert (c.mestc_c2_percent, c.crescentic_percent) == (25.0, 50.0)
    assert (c.reliability_min_kappa, c.reliability_min_auc) == (0.4, 0.80)
    assert c.default_stain == "pas"
    assert (c.lupus_class_iv_percent, c.lupus_class_vi_percent, c.diabetic_class_iv_percent) == (50, 90, 50)


def test_institution_override_keeps_other_defaults() -> None:
    c = AssessmentConfig.from_overrides({"adequacy_adequate_n": 12, "h_grade_cutoffs": [20, 40, 60]})
    assert c.adequacy_adequate_n == 12
    assert c.h_grade_cutoffs == (20.0, 40.0, 60.0)
    assert c.mestc_min_n == 8
    assert AssessmentConfig.from_overrides(None) == AssessmentConfig()


@pytest.mark.parametrize(
    "overrides",
    [
        {"no_such_threshold": 1},
        {"adequacy_minimal_n": 11},  # above adequate_n=10
        {"adequacy_adequate_n": 0},
        {"h_grade_cutoffs": [50, 25, 75]},
        {"h_grade_cutoffs": [25, 25, 75]},
        {"nih_cutoffs": [50, 25]},
        {"mestc_c2_percent": 101},
        {"crescentic_percent": -1},
        {"reliability_min_auc": 1.5},
        {"default_stain": "giemsa"},
        {"minor_count_rel": 2},
    ],
)
def test_invalid_overrides_are_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AssessmentConfig.from_overrides(overrides)


@pytest.mark.parametrize(
    ("kappa", "auc", "reliable"),
    [
        (0.4, 0.80, True),  # both exactly at the minimum
        (0.39, 0.95, False),
        (0.9, 0.79, False),
        (None, 0.95, False),
        (0.9, None, False),
    ],
)
def test_reliability_minimum(kappa: float | None, auc: float | None, reliable: bool) -> None:
    assert AssessmentConfig().is_reliable(kappa, auc) is reliable


def test_config_is_immutable() -> None:
    with pytest.raises(ValidationError):
        AssessmentConfig().mestc_min_n = 3  # type: ignore[misc]
