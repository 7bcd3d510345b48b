"""In-app notifications (the worklist bell)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import Notification, User
from app.errors import NotFound
from app.notifications.messages import notification_text


def notify(session: Session, *, user_id: int, kind: str, params: dict[str, Any],
           payload: dict[str, Any] | None = None) -> Notification:
    """Store a notification of a known ``kind`` (messages.KINDS) with what it says as ``params``.

    The English title and body are written too, for API clients; the UI phrases ``kind`` + ``params``
    in the viewer's language.
    """
    title, body = notification_text(kind, params, "en")
    n = Notification(user_id=user_id, kind=kind, title=title, body=body, params=params, payload=payload or {})
    session.add(n)
    session.flush()
    return n


def list_for(session: Session, *, user: User, unread_only: bool = False, limit: int = 100) -> tuple[list[Notification], int]:
    q = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        q = q.where(Notification.read_at.is_(None))
    items = list(session.execute(q.order_by(Notification.id.desc()).limit(limit)).scalars())
    unread = session.execute(
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ).scalar_one()
    return items, int(unread)


def mark_read(session: Session, *, user: User, notification_id: int) -> Notification:
    n = session.get(Notification, notification_id)
    if n is None or n.user_id != user.id:
        raise NotFound(f"Notification {notification_id} does not exist.", code="notification_not_found")
    if n.read_at is None:
        n.read_at = utcnow()
        session.flush()
    return n


def mark_all_read(session: Session, *, user: User) -> int:
    res = session.execute(
        update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return int(getattr(res, "rowcount", 0) or 0)
