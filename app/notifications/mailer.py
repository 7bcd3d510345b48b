"""Alert e-mails over SMTP (stdlib smtplib), sent only after the alert's transaction commits.

Ids are buffered on the SQLAlchemy session and sent from its ``after_commit`` event, so the same
mechanism works in a request and in a worker task, and a rolled-back alert is never mailed. A
failed send is logged and recorded on the alert (``email_status="failed"``) — the alert itself and
its in-app notification are already committed and are never lost.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.config import get_settings

log = logging.getLogger(__name__)

_PENDING_KEY = "glomcheck_pending_alert_mail"


def send_mail(*, to: str, subject: str, body: str) -> None:
    """Send one plain-text message; raises on any SMTP or network error."""
    s = get_settings()
    if not s.smtp_host:
        raise RuntimeError("GLOMCHECK_SMTP_HOST is not set")
    msg = EmailMessage()
    msg["From"] = s.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password or "")
        smtp.send_message(msg)


def queue_alert_email(session: Session, alert_id: int) -> None:
    """Mail the alert's assignee once ``session`` commits; dropped if it rolls back."""
    session.info.setdefault(_PENDING_KEY, []).append(alert_id)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    ids = session.info.pop(_PENDING_KEY, None)
    if ids:
        deliver_alert_emails(ids)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)


def deliver_alert_emails(alert_ids: list[int]) -> None:
    """Send each alert's e-mail and record the outcome in a transaction of its own."""
    from app.alerts.service import record_email_outcome, render_alert_email
    from app.db.session import session_scope

    for alert_id in alert_ids:
        try:
            with session_scope() as s:
                msg = render_alert_email(s, alert_id=alert_id)
            if msg is None:
                with session_scope() as s:
                    record_email_outcome(s, alert_id=alert_id, status="skipped", error="no recipient or no SMTP host")
                continue
            to, subject, body = msg
            try:
                send_mail(to=to, subject=subject, body=body)
            except Exception as exc:  # noqa: BLE001 - any failure must be recorded, never raised
                log.warning("alert %s: e-mail to %s failed: %s", alert_id, to, exc)
                with session_scope() as s:
                    record_email_outcome(s, alert_id=alert_id, status="failed", error=f"{type(exc).__name__}: {exc}")
                continue
            with session_scope() as s:
                record_email_outcome(s, alert_id=alert_id, status="sent", error=None)
        except Exception:
            log.exception("alert %s: could not record the e-mail outcome", alert_id)
