from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str  # alert_assigned | alert_resolved | alert_unassigned
    title: str
    body: str  # English; the UI phrases kind + params in its language and falls back to title/body
    # {"case_number", "fields"} (alert_assigned), {"case_number"} (alert_unassigned),
    # {"case_number", "reason"} (alert_resolved); null for notifications written before these existed.
    params: dict[str, Any] | None = None
    payload: dict[str, Any]  # {"case_id", "alert_id"}
    read_at: datetime | None
    created_at: datetime


class NotificationList(BaseModel):
    items: list[NotificationOut]
    unread: int


class MarkedRead(BaseModel):
    marked: int
