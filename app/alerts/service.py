"""Second-read alerts: assignment, notification, and the open → acknowledged → resolved workflow."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.alerts import repository as repo
from app.alerts.schemas import AlertState, ResolutionReason
from app.audit.service import record
from app.config import get_settings
from app.db.base import utcnow
from app.db.models import Alert, Case, CaseState, Comparison, Discrepancy, Report, Role, User
from app.errors import Conflict, Forbidden, NotFound, Unprocessable
from app.notifications.mailer import queue_alert_email
from app.notifications.messages import alert_email, locale_of
from app.notifications.service import notify
from app.reports import repository as reports_repo
from app.reports.access import is_admin, set_case_state


def open_for_comparison(
    session: Session, *, case: Case, comparison: Comparison, report: Report, majors: list[Discrepancy],
    actor_id: int | None,
) -> Alert | None:
    """Open a second-read alert for major discrepancies unless one is already in progress for the case."""
    # Before reading open alerts: the check and the least-loaded choice must see concurrent openings.
    repo.lock_assignment(session, institution_id=case.institution_id)
    if repo.unresolved_for_case(session, case_id=case.id):
        return None
    pool = repo.candidates(session, institution_id=case.institution_id, exclude_user_id=report.author_id)
    assignee = pool[0][0] if pool else None
    alert = Alert(case_id=case.id, institution_id=case.institution_id, comparison_id=comparison.id,
                  report_id=report.id, author_id=report.author_id, assignee_id=assignee.id if assignee else None,
                  state=AlertState.open.value, severity="major", fields=sorted({d.field for d in majors}),
                  email_status="pending" if assignee else "skipped")
    session.add(alert)
    session.flush()
    record(session, "alert.opened", institution_id=case.institution_id, actor_user_id=actor_id,
           object_type="alert", object_id=alert.id,
           details={"case_id": case.id, "comparison_id": comparison.id, "assignee_id": alert.assignee_id,
                    "fields": alert.fields, "open_alerts_of_assignee": pool[0][1] if pool else None})
    payload = {"case_id": case.id, "alert_id": alert.id}
    if assignee is not None:
        notify(session, user_id=assignee.id, kind="alert_assigned",
               params={"case_number": case.number, "fields": list(alert.fields)}, payload=payload)
        queue_alert_email(session, alert.id)
    else:
        # Nobody else can read at this institution: tell its admins rather than drop the alert.
        admins = session.execute(select(User.id).where(User.institution_id == case.institution_id,
                                                       User.role == Role.admin.value)).scalars()
        for admin_id in admins:
            notify(session, user_id=admin_id, kind="alert_unassigned", params={"case_number": case.number},
                   payload=payload)
    return alert


def render_alert_email(session: Session, *, alert_id: int) -> tuple[str, str, str] | None:
    """(to, subject, body) of an alert's e-mail; None when it cannot be sent (no assignee or SMTP host)."""
    alert = session.get(Alert, alert_id)
    if alert is None or alert.assignee_id is None or not get_settings().smtp_host:
        return None
    assignee = session.get(User, alert.assignee_id)
    case = session.get(Case, alert.case_id)
    if assignee is None or case is None:
        return None
    url = f"{get_settings().public_url.rstrip('/')}/cases/{case.id}?tab=comparison&alert={alert.id}"
    # In the assignee's language (their account's locale, which the UI's language switch sets).
    subject, body = alert_email(locale=locale_of(assignee.locale), case_number=case.number,
                                fields=list(alert.fields), alert_id=alert.id, url=url)
    return assignee.email, subject, body


def record_email_outcome(session: Session, *, alert_id: int, status: str, error: str | None) -> None:
    alert = session.get(Alert, alert_id)
    if alert is None:
        return
    alert.email_status = status
    alert.email_error = error
    if status == "sent":
        alert.email_sent_at = utcnow()
    session.flush()
    record(session, f"alert.email_{status}", institution_id=alert.institution_id, object_type="alert",
           object_id=alert.id, details={"assignee_id": alert.assignee_id, "error": error})


# --- reading ------------------------------------------------------------------------------------


def _visible(alert: Alert, user: User) -> bool:
    if user.role == Role.network_admin.value:
        return True
    if alert.institution_id != user.institution_id:
        return False
    return is_admin(user) or user.id in (alert.assignee_id, alert.author_id)


def get(session: Session, *, alert_id: int, user: User) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or not _visible(alert, user):
        raise NotFound(f"Alert {alert_id} does not exist.", code="alert_not_found")
    return alert


def list_for(session: Session, *, user: User, state: AlertState | None, scope: str) -> list[Alert]:
    """``scope="mine"``: alerts assigned to me, oldest first (the second-read queue);
    ``"authored"``: alerts on my reports; ``"institution"``: every alert (admins)."""
    q = select(Alert)
    if scope == "institution":
        if not is_admin(user):
            raise Forbidden("Only administrators list every alert.", code="admin_only")
        if user.role != Role.network_admin.value:
            q = q.where(Alert.institution_id == user.institution_id)
    elif scope == "authored":
        q = q.where(Alert.author_id == user.id)
    else:
        q = q.where(Alert.assignee_id == user.id)
    if state is not None:
        q = q.where(Alert.state == state.value)
    return list(session.execute(q.order_by(Alert.created_at, Alert.id)).scalars())


def discrepancies_of(session: Session, alert: Alert) -> list[Discrepancy]:
    return list(session.execute(
        select(Discrepancy).where(Discrepancy.comparison_id == alert.comparison_id).order_by(Discrepancy.id)
    ).scalars())


# --- acting -------------------------------------------------------------------------------------


def _for_action(session: Session, *, alert_id: int, user: User) -> Alert:
    alert = repo.lock(session, alert_id=alert_id)
    if alert is None or not _visible(alert, user):
        raise NotFound(f"Alert {alert_id} does not exist.", code="alert_not_found")
    own_admin = user.role == Role.admin.value and alert.institution_id == user.institution_id
    if user.id != alert.assignee_id and not own_admin:
        raise Forbidden("Only the assigned second reader (or an administrator) may act on this alert.",
                        code="not_alert_assignee", extra={"alert_id": alert.id})
    return alert


def _transition(alert: Alert, frm: AlertState, to: AlertState) -> None:
    if alert.state != frm.value:
        raise Conflict(f"Alert {alert.id} is {alert.state}; it must be {frm.value} to become {to.value}.",
                       code="invalid_alert_transition", extra={"state": alert.state})
    alert.state = to.value


def acknowledge(session: Session, *, alert_id: int, user: User) -> Alert:
    alert = _for_action(session, alert_id=alert_id, user=user)
    _transition(alert, AlertState.open, AlertState.acknowledged)
    alert.acknowledged_at = utcnow()
    session.flush()
    record(session, "alert.acknowledged", institution_id=alert.institution_id, actor_user_id=user.id,
           object_type="alert", object_id=alert.id, details={"case_id": alert.case_id})
    case = session.get(Case, alert.case_id)
    assert case is not None
    set_case_state(session, case=case, to=CaseState.second_read, actor_id=user.id, reason="alert acknowledged")
    return alert


def record_second_read(session: Session, *, alert_id: int, user: User, values: dict[str, object]) -> Alert:
    """Store the second reader's own assessment (kept for pathologist-vs-second-reader agreement)."""
    alert = _for_action(session, alert_id=alert_id, user=user)
    if alert.state == AlertState.resolved.value:
        raise Conflict(f"Alert {alert.id} is resolved; its second read can no longer change.",
                       code="alert_resolved")
    alert.second_read = values
    alert.second_read_at = utcnow()
    session.flush()
    record(session, "alert.second_read_recorded", institution_id=alert.institution_id, actor_user_id=user.id,
           object_type="alert", object_id=alert.id, details={"case_id": alert.case_id, "values": values})
    return alert


def resolve(session: Session, *, alert_id: int, user: User, reason: ResolutionReason, note: str | None) -> Alert:
    alert = _for_action(session, alert_id=alert_id, user=user)
    if reason is ResolutionReason.report_amended:
        latest = reports_repo.latest_signed(session, case_id=alert.case_id)
        if latest is None or latest.id == alert.report_id:
            raise Unprocessable("Reason 'report_amended' needs a signed amendment of the report first.",
                                code="no_signed_amendment")
    _transition(alert, AlertState.acknowledged, AlertState.resolved)
    alert.reason = reason.value
    alert.resolution_note = note
    alert.resolved_at = utcnow()
    alert.resolved_by_id = user.id
    session.flush()
    record(session, "alert.resolved", institution_id=alert.institution_id, actor_user_id=user.id,
           object_type="alert", object_id=alert.id,
           details={"case_id": alert.case_id, "reason": reason.value, "note": note})
    case = session.get(Case, alert.case_id)
    assert case is not None
    if not repo.unresolved_for_case(session, case_id=case.id):
        set_case_state(session, case=case, to=CaseState.resolved, actor_id=user.id, reason=f"alert {reason.value}")
    notify(session, user_id=alert.author_id, kind="alert_resolved",
           params={"case_number": case.number, "reason": reason.value},
           payload={"case_id": case.id, "alert_id": alert.id})
    return alert
