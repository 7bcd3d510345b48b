"""Per-institution thresholds of the assessment and comparison rules (DOMAIN.md §2–§5 defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.assessment.findings import DEFAULT_NOT_ASSESSABLE_FLAGS

Percent = Annotated[float, Field(ge=0.0, le=100.0)]
MinN = Annotated[int, Field(ge=1)]


class AssessmentConfig(BaseModel):
    """Every threshold the rules use; defaults are DOMAIN.md's, institutions override a subset.

    Schemes for which DOMAIN.md gives no own minimum default to the adequacy "minimal" count (7),
    so an inadequate biopsy never yields a score.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Adequacy (Banff-style): adequate ≥ adequate_n, minimal ≥ minimal_n, else inadequate.
    adequacy_adequate_n: MinN = 10
    adequacy_minimal_n: MinN = 7

    percent_global_sclerosis_min_n: MinN = 7

    mestc_min_n: MinN = 8
    mestc_m1_percent: Percent = 50.0  # M1 if strictly more than this
    mestc_c2_percent: Percent = 25.0  # C2 if at least this

    h_grade_min_n: MinN = 7
    h_grade_cutoffs: tuple[Percent, Percent, Percent] = (25.0, 50.0, 75.0)  # II, III, IV from (≥)

    berden_min_n: MinN = 10
    berden_percent: Percent = 50.0  # each Berden rule is "≥ this"

    crescentic_min_n: MinN = 7
    crescentic_percent: Percent = 50.0  # crescentic pattern if at least this

    lupus_min_n: MinN = 7
    lupus_class_iv_percent: Percent = 50.0  # active lesions ≥ this → IV, else III
    lupus_class_vi_percent: Percent = 90.0  # global sclerosis ≥ this → VI
    nih_cutoffs: tuple[Percent, Percent] = (25.0, 50.0)  # 1 below first, 2 up to second inclusive, 3 above

    diabetic_min_n: MinN = 7
    diabetic_class_iv_percent: Percent = 50.0  # class IV if strictly more than this

    reliability_min_kappa: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.4
    reliability_min_auc: Annotated[float, Field(ge=0.0, le=1.0)] = 0.80

    default_stain: Literal["pas", "pam", "mt", "he", "azan", "other"] = "pas"
    not_assessable_flags: frozenset[str] = DEFAULT_NOT_ASSESSABLE_FLAGS

    # Comparison: a count differs when |ai - report| > max(minor_count_abs, minor_count_rel × larger).
    minor_count_abs: Annotated[int, Field(ge=0)] = 2
    minor_count_rel: Annotated[float, Field(ge=0.0, le=1.0)] = 0.20

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.adequacy_minimal_n > self.adequacy_adequate_n:
            raise ValueError("adequacy_minimal_n must not exceed adequacy_adequate_n")
        a, b, c = self.h_grade_cutoffs
        if not (0.0 < a < b < c <= 100.0):
            raise ValueError("h_grade_cutoffs must be strictly increasing within (0, 100]")
        lo, hi = self.nih_cutoffs
        if not (0.0 < lo < hi <= 100.0):
            raise ValueError("nih_cutoffs must be strictly increasing within (0, 100]")
        return self

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None = None) -> Self:
        """Defaults overlaid with an institution's stored settings; unknown keys are rejected."""
        return cls.model_validate(dict(overrides or {}))

    def is_reliable(self, kappa: float | None, auc: float | None) -> bool:
        """Whether a finding may raise alerts; unknown metrics count as unreliable (never alert blind)."""
        if kappa is None or auc is None:
            return False
        return kappa >= self.reliability_min_kappa and auc >= self.reliability_min_auc
