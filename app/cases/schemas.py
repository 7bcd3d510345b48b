from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from app.slides.schemas import SlideSummary


class CaseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    number: str
    state: str
    institution_id: int
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    slide_count: int = 0
    stains: list[str] = []


class CaseDetail(CaseOut):
    slides: list[SlideSummary] = []


class CaseList(BaseModel):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int
