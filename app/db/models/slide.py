from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, JSONType, TimestampMixin


class Slide(TimestampMixin, Base):
    """A whole-slide image in storage, with what OpenSlide told us about it at ingest."""

    __tablename__ = "slides"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    display_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # Path relative to the storage dir: a file, or the folder holding a DICOM series / MRXS slide.
    storage_path: Mapped[str] = mapped_column(String(500))
    # The path OpenSlide opens, relative to the storage dir (e.g. the .mrxs or one .dcm of a series).
    open_path: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(32))  # openslide vendor: aperio, hamamatsu, dicom, mirax…
    vendor: Mapped[str | None] = mapped_column(String(64))
    width: Mapped[int]
    height: Mapped[int]
    level_count: Mapped[int]
    level_dimensions: Mapped[list[list[int]]] = mapped_column(JSONType, default=list)
    level_downsamples: Mapped[list[float]] = mapped_column(JSONType, default=list)
    mpp_x: Mapped[float | None] = mapped_column(Float)
    mpp_y: Mapped[float | None] = mapped_column(Float)
    objective_power: Mapped[float | None] = mapped_column(Float)
    stain: Mapped[str] = mapped_column(String(16), default="pas")
    bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="ready")
    associated_images: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Reader quirks discovered at ingest (e.g. {"ycbcr_as_rgb": true} for mislabelled DICOM JPEG).
    reader_options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
