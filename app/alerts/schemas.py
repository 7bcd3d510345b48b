"""Second-read alert shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.discrepancies.schemas import DiscrepancyOut
from app.reports.schemas import ReportIn


class AlertState(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class ResolutionReason(StrEnum):
    ai_error = "ai_error"
    report_amended = "report_amended"
    original_confirmed = "original_confirmed"
    indeterminate = "indeterminate"


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    case_number: str | None = None
    institution_id: int
    comparison_id: int
    report_id: int
    author_id: int
    author_name: str | None = None  # who signed the report under second read
    assignee_id: int | None
    assignee_name: str | None = None
    state: AlertState
    severity: str
    fields: list[str]
    reason: ResolutionReason | None
    resolution_note: str | None
    second_read: dict[str, Any] | None
    second_read_at: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by_id: int | None
    email_status: str  # pending | sent | failed | skipped
    email_error: str | None


class AlertDetail(AlertOut):
    discrepancies: list[DiscrepancyOut] = Field(default_factory=list)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ResolutionReason
    note: str | None = Field(default=None, max_length=5000)


class SecondReadIn(ReportIn):
    """The second reader's own values, in the report's fields (any may be null = not assessed)."""
