"""Request and response shapes of the structured report (DOMAIN.md §4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.discrepancies.rules import ReportValues
from app.reports.vocabulary import AXES, Axis


def _check_code(axis: Axis, code: str | None) -> str | None:
    if code is None:
        return None
    if code not in AXES[axis]:
        allowed = ", ".join(AXES[axis])
        raise ValueError(f"unknown {axis.value} code '{code}'; allowed: {allowed} (or null = not assessed)")
    return code


class ReportIn(ReportValues):
    """Every comparable field of ReportValues plus the J-RBR diagnosis axes and free text.

    Any field may be null, meaning "not assessed". Counts above ``n_glomeruli`` and unknown codes
    are rejected with 422 before anything is stored.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    clinical_diagnosis: str | None = None
    pathogenesis: str | None = None
    histopathology: str | None = None
    free_text: str | None = Field(default=None, max_length=20000)

    @field_validator("clinical_diagnosis")
    @classmethod
    def _clinical(cls, v: str | None) -> str | None:
        return _check_code(Axis.clinical_diagnosis, v)

    @field_validator("pathogenesis")
    @classmethod
    def _pathogenesis(cls, v: str | None) -> str | None:
        return _check_code(Axis.pathogenesis, v)

    @field_validator("histopathology")
    @classmethod
    def _histopathology(cls, v: str | None) -> str | None:
        return _check_code(Axis.histopathology, v)


class AmendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=2000)
    values: ReportIn | None = None  # default: a copy of the signed version to edit


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    version: int
    status: str  # draft | signed
    author_id: int
    values: dict[str, Any]
    supersedes_id: int | None
    amendment_reason: str | None
    signed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    not_assessed: list[str] = Field(default_factory=list)


class SignOut(BaseModel):
    report: ReportOut
    comparison_id: int | None
    outcome: str | None  # concordant | discrepant | None when AI results are not ready yet
    alert_ids: list[int]
