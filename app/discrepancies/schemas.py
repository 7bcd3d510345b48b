"""Comparison and discrepancy shapes (the Comparison tab and the admin list)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class DiscrepancyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    comparison_id: int
    case_id: int
    institution_id: int
    report_id: int
    pathologist_id: int
    field: str  # report field, e.g. "C", "h_grade", "n_cellular_crescent", "adequacy"
    finding: str | None  # ontology key behind it when there is exactly one
    severity: str  # major | minor | info
    ai_value: Any
    pathologist_value: Any
    evidence_glomerulus_ids: list[int]
    reliable: bool  # False: rests only on findings below the reliability minimum
    reason: str | None  # English
    reason_data: dict[str, Any] | None = None  # {"code", params…, "qualifier"}: phrased by the UI in its language
    is_current: bool
    created_at: datetime


class ComparisonOut(BaseModel):
    """Current comparison of a case; ``rows`` has one entry per score both sides gave."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    report_id: int
    report_version: int
    assessment_id: int
    pathologist_id: int
    trigger: str
    outcome: str  # concordant | discrepant
    pairs: dict[str, Any]  # score -> {"ai", "pathologist"}
    created_at: datetime
    discrepancies: list[DiscrepancyOut]
