from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

UploadStatus = Literal["receiving", "ready", "duplicate", "rejected", "cancelled", "expired"]


class UploadResult(BaseModel):
    """How an upload ended (or how far it got). `slide_id` is the new slide, or for `duplicate` the
    slide already holding the same bytes in this case; `error`/`detail` explain a rejection."""

    upload_id: str | None = None
    status: UploadStatus
    case_id: int
    slide_id: int | None = None
    offset: int | None = None
    length: int | None = None
    error: str | None = None
    detail: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
