from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Upload


def get(session: Session, upload_id: str) -> Upload | None:
    return session.get(Upload, upload_id)


def expired_receiving(session: Session, *, now: datetime, limit: int = 50) -> list[Upload]:
    return list(session.execute(
        select(Upload).where(Upload.status == "receiving", Upload.expires_at < now).limit(limit)
    ).scalars())
