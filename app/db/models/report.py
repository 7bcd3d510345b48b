"""Case assessments, structured reports, comparisons and their discrepancies (DOMAIN.md §3–§5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, TimestampMixin, UTCDateTime, utcnow


class CaseAssessment(TimestampMixin, Base):
    """One computation of every §3 scheme for a case; kept as history, the newest row is current.

    Rows are never updated so a comparison can always point at exactly the numbers it used.
    """

    __tablename__ = "case_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    rules_version: Mapped[str] = mapped_column(String(32))
    model_versions: Mapped[list[str]] = mapped_column(JSONType, default=list)
    job_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    stain: Mapped[str | None] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(32))  # ai_results | settings_changed | manual
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # effective thresholds used
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # §3 objects
    # finding -> glomerulus ids behind the AI value; finding -> {kappa, auc, reliable}.
    evidence: Mapped[dict[str, list[int]]] = mapped_column(JSONType, default=dict)
    reliability: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Report(TimestampMixin, Base):
    """One version of a case's structured report; a signed version is never changed again."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")  # draft | signed
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    amendment_reason: Mapped[str | None] = mapped_column(Text)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Comparison(TimestampMixin, Base):
    """One run of the comparison engine: which report met which assessment, and every score pair."""

    __tablename__ = "comparisons"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("case_assessments.id"))
    pathologist_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    trigger: Mapped[str] = mapped_column(String(32))  # report_signed | ai_results | settings_changed
    outcome: Mapped[str] = mapped_column(String(16))  # concordant | discrepant
    # score -> {"ai": value, "pathologist": value}: the raw material of the agreement statistics.
    pairs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)


class Discrepancy(TimestampMixin, Base):
    """One field where a signed report and the AI differ."""

    __tablename__ = "discrepancies"

    id: Mapped[int] = mapped_column(primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    pathologist_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    field: Mapped[str] = mapped_column(String(64), index=True)
    finding: Mapped[str | None] = mapped_column(String(64), index=True)
    severity: Mapped[str] = mapped_column(String(8), index=True)  # major | minor | info
    ai_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    pathologist_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    evidence_glomerulus_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    reliable: Mapped[bool] = mapped_column(Boolean, default=True)
    reason: Mapped[str | None] = mapped_column(Text)
    reason_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)  # code + params, per language
    is_current: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
