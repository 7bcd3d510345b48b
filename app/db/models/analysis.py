from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, TimestampMixin, UTCDateTime
from app.db.models.enums import JobState


class AnalysisJob(TimestampMixin, Base):
    """The database row is the source of truth for a job; the broker message is only a wake-up call."""

    __tablename__ = "analysis_jobs"
    # At most one active job per slide (migration 0005): the database, not a check-then-insert, decides.
    __table_args__ = (
        Index("ix_analysis_jobs_one_active_per_slide", "slide_id", unique=True,
              postgresql_where=text("state IN ('queued', 'running')"),
              sqlite_where=text("state IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slide_id: Mapped[int] = mapped_column(ForeignKey("slides.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), default=JobState.queued.value, index=True)
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    model_versions: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    timings_s: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    mpp_override: Mapped[float | None] = mapped_column(Float)


class Glomerulus(TimestampMixin, Base):
    """One detected glomerulus; (job_id, index) makes a re-delivered task idempotent."""

    __tablename__ = "glomeruli"
    __table_args__ = (UniqueConstraint("job_id", "index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("analysis_jobs.id", ondelete="CASCADE"), index=True)
    slide_id: Mapped[int] = mapped_column(ForeignKey("slides.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    polygon: Mapped[list[list[float]]] = mapped_column(JSONType)  # level-0 pixel coordinates
    bbox_x0: Mapped[int]
    bbox_y0: Mapped[int]
    bbox_x1: Mapped[int]
    bbox_y1: Mapped[int]
    area_um2: Mapped[float | None] = mapped_column(Float)
    detection_score: Mapped[float] = mapped_column(Float)
    findings: Mapped[dict[str, float]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)  # e.g. edge_cut, out_of_focus
