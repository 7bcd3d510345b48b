from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.slides.schemas import SlideSummary


class AiStateName(StrEnum):
    """The worklist's AI column: the latest analysis job over the case's slides, or none."""

    none = "none"
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class AiState(BaseModel):
    state: AiStateName = AiStateName.none
    progress: float | None = Field(default=None, description="0–1 of the latest job; null when there is none")


class OpenAlert(BaseModel):
    """The case's unresolved second-read alert (open or acknowledged)."""

    id: int
    state: str
    assignee_id: int | None
    assignee_name: str | None


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    state: str
    institution_id: int
    institution_name: str | None = None
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    slide_count: int = 0
    stains: list[str] = []
    ai_state: AiState = Field(default_factory=AiState)
    major_discrepancies: int = Field(default=0, description="current major discrepancies; 0 before comparison")
    open_alert: OpenAlert | None = None


class CaseDetail(CaseOut):
    slides: list[SlideSummary] = []


class CaseList(BaseModel):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int


class HistoryEvent(BaseModel):
    """One audit event in a case's History tab."""

    id: int
    ts: datetime
    action: str
    actor_user_id: int | None
    actor_name: str | None
    object_type: str | None
    object_id: str | None
    details: dict[str, Any]


class CaseHistory(BaseModel):
    items: list[HistoryEvent]
