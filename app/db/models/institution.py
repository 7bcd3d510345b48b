from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, TimestampMixin


class Institution(TimestampMixin, Base):
    """A hospital or lab; every case, slide and user belongs to exactly one."""

    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Per-institution overrides of DOMAIN.md thresholds, blinded read, reliability minimums.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    next_case_number: Mapped[int] = mapped_column(default=1)
