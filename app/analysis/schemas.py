from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AnalyzeIn(BaseModel):
    """Optional level-0 µm/px for slides whose file does not state it (or states it wrongly)."""

    mpp: float | None = Field(default=None, gt=0.01, lt=100)


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slide_id: int
    state: str  # queued | running | succeeded | failed | cancelled
    stage: str | None
    progress: float  # overall fraction 0..1
    attempts: int
    error: str | None
    cancel_requested: bool
    mpp_override: float | None
    model_versions: dict[str, str]
    timings_s: dict[str, float]
    result: dict[str, Any]
    requested_by_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None


class GlomerulusOut(BaseModel):
    id: int
    index: int
    polygon: list[list[float]]  # level-0 pixel coordinates
    bbox: list[int]  # [x0, y0, x1, y1], level-0 px
    area_um2: float | None
    detection_score: float
    findings: dict[str, float]
    status: str
    flags: list[str]


class SlideGlomeruliOut(BaseModel):
    """The latest succeeded job of a slide and its glomeruli (`job` is null if none succeeded yet)."""

    job: JobOut | None
    glomeruli: list[GlomerulusOut]
