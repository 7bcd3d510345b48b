from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, UTCDateTime, utcnow


class ClinicalRecord(TimestampMixin, Base):
    """Baseline clinical data of one case (DOMAIN.md §6), at most one row per case.

    ``institution_id`` is copied from the case so every query can be scoped without a join.
    ``egfr`` is derived (Japanese equation) and stored so exports and filters need not recompute it.
    """

    __tablename__ = "clinical_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    biopsy_date: Mapped[date | None] = mapped_column(Date)
    age_years: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str | None] = mapped_column(String(8))  # "male" | "female"
    clinical_diagnosis: Mapped[str | None] = mapped_column(String(200))
    history: Mapped[str | None] = mapped_column(Text)
    systolic_bp_mmhg: Mapped[int | None] = mapped_column(Integer)
    diastolic_bp_mmhg: Mapped[int | None] = mapped_column(Integer)
    creatinine_mg_dl: Mapped[float | None] = mapped_column(Float)
    egfr: Mapped[float | None] = mapped_column(Float)  # mL/min/1.73 m²
    urinary_protein: Mapped[float | None] = mapped_column(Float)
    urinary_protein_unit: Mapped[str | None] = mapped_column(String(8))  # "g/day" | "g/gCr"
    haematuria: Mapped[str | None] = mapped_column(String(8))  # dipstick grade
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ClinicalFollowup(TimestampMixin, Base):
    """One dated follow-up measurement; (case_id, measured_on) makes a re-imported CSV idempotent."""

    __tablename__ = "clinical_followups"
    __table_args__ = (UniqueConstraint("case_id", "measured_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    measured_on: Mapped[date] = mapped_column(Date)
    systolic_bp_mmhg: Mapped[int | None] = mapped_column(Integer)
    diastolic_bp_mmhg: Mapped[int | None] = mapped_column(Integer)
    creatinine_mg_dl: Mapped[float | None] = mapped_column(Float)
    egfr: Mapped[float | None] = mapped_column(Float)
    urinary_protein: Mapped[float | None] = mapped_column(Float)
    urinary_protein_unit: Mapped[str | None] = mapped_column(String(8))
    haematuria: Mapped[str | None] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
