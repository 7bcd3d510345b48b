from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, UTCDateTime, utcnow
from app.db.models.enums import CaseState


class Case(TimestampMixin, Base):
    """One renal biopsy of one patient; identified only by a pseudonymous number per institution."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("institution_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32), default=CaseState.uploaded.value)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
