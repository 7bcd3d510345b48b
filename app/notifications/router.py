from __future__ import annotations

from fastapi import APIRouter

from app.deps import CurrentUser, SessionDep
from app.notifications import service
from app.notifications.schemas import MarkedRead, NotificationList, NotificationOut

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


@router.get("", response_model=NotificationList, operation_id="listNotifications")
def list_notifications(user: CurrentUser, session: SessionDep, unread_only: bool = False) -> NotificationList:
    """Newest first, with the unread count for the bell."""
    items, unread = service.list_for(session, user=user, unread_only=unread_only)
    return NotificationList(items=[NotificationOut.model_validate(n) for n in items], unread=unread)


@router.post("/{notification_id}/read", response_model=NotificationOut, operation_id="markNotificationRead")
def mark_read(notification_id: int, user: CurrentUser, session: SessionDep) -> NotificationOut:
    return NotificationOut.model_validate(service.mark_read(session, user=user, notification_id=notification_id))


@router.post("/read-all", response_model=MarkedRead, operation_id="markAllNotificationsRead")
def mark_all_read(user: CurrentUser, session: SessionDep) -> MarkedRead:
    return MarkedRead(marked=service.mark_all_read(session, user=user))
