"""Second-read queue and alert actions."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlalchemy.orm import Session

from app.alerts import service
from app.alerts.schemas import AlertDetail, AlertOut, AlertState, ResolveIn, SecondReadIn
from app.db.models import Alert, Case, User
from app.deps import CurrentUser, SessionDep
from app.discrepancies.schemas import DiscrepancyOut
from app.reports.access import record_view

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


def _out(session: Session, alert: Alert) -> AlertOut:
    out = AlertOut.model_validate(alert)
    case = session.get(Case, alert.case_id)
    out.case_number = case.number if case else None
    author = session.get(User, alert.author_id)
    out.author_name = author.display_name if author else None
    assignee = session.get(User, alert.assignee_id) if alert.assignee_id is not None else None
    out.assignee_name = assignee.display_name if assignee else None
    return out


@router.get("", response_model=list[AlertOut], operation_id="listAlerts")
def list_alerts(user: CurrentUser, session: SessionDep, state: AlertState | None = None,
                scope: Literal["mine", "authored", "institution"] = "mine") -> list[AlertOut]:
    """``scope``: mine (assigned to me, oldest first) | authored | institution (admins)."""
    return [_out(session, a) for a in service.list_for(session, user=user, state=state, scope=scope)]


@router.get("/{alert_id}", response_model=AlertDetail, operation_id="getAlert")
def get_alert(alert_id: int, user: CurrentUser, session: SessionDep) -> AlertDetail:
    alert = service.get(session, alert_id=alert_id, user=user)
    case = session.get(Case, alert.case_id)
    if case is not None:
        record_view(session, case=case, user=user, part="alert")
    out = AlertDetail.model_validate(_out(session, alert).model_dump())
    out.discrepancies = [DiscrepancyOut.model_validate(d) for d in service.discrepancies_of(session, alert)]
    return out


@router.post("/{alert_id}/acknowledge", response_model=AlertOut, operation_id="acknowledgeAlert")
def acknowledge(alert_id: int, user: CurrentUser, session: SessionDep) -> AlertOut:
    return _out(session, service.acknowledge(session, alert_id=alert_id, user=user))


@router.put("/{alert_id}/second-read", response_model=AlertOut, operation_id="recordSecondRead")
def second_read(alert_id: int, body: SecondReadIn, user: CurrentUser, session: SessionDep) -> AlertOut:
    values = body.model_dump(mode="json")
    return _out(session, service.record_second_read(session, alert_id=alert_id, user=user, values=values))


@router.post("/{alert_id}/resolve", response_model=AlertOut, operation_id="resolveAlert")
def resolve(alert_id: int, body: ResolveIn, user: CurrentUser, session: SessionDep) -> AlertOut:
    """Needs state acknowledged and a reason (ai_error | report_amended | original_confirmed | indeterminate)."""
    return _out(session, service.resolve(session, alert_id=alert_id, user=user, reason=body.reason, note=body.note))
