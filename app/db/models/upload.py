from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, TimestampMixin, UTCDateTime


class Upload(TimestampMixin, Base):
    """A receipt for one resumable (tus) or streamed upload: who sent what into which case, and how
    it ended. The bytes live in storage only while `status == "receiving"`; the receipt outlives
    them so a client can ask for the result after the connection that finished the upload is gone."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex, also the tus upload id
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    # Only the extension is kept once the upload has ended: the original name may identify a patient.
    filename: Mapped[str] = mapped_column(String(255))
    stain: Mapped[str] = mapped_column(String(16))
    length: Mapped[int] = mapped_column(BigInteger)
    # receiving | processing | ready | duplicate | rejected | cancelled | expired
    status: Mapped[str] = mapped_column(String(16), default="receiving", index=True)
    slide_id: Mapped[int | None] = mapped_column(ForeignKey("slides.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
