"""Create, list and open cases; all scoped to the caller's institution (others' cases are 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.audit.service import record
from app.cases import repository
from app.cases.repository import CaseFilter, WorklistRow
from app.cases.schemas import (
    AiState,
    AiStateName,
    CaseDetail,
    CaseHistory,
    CaseList,
    CaseOut,
    HistoryEvent,
    OpenAlert,
)
from app.db.base import utcnow
from app.db.models import Case, CaseState, Institution, User
from app.errors import NotFound
from app.reports.service import ai_visible
from app.slides import repository as slide_repository
from app.slides.schemas import SlideSummary


def format_case_number(code: str, year: int, n: int) -> str:
    return f"{code}-{year}-{n:04d}"


def create_case(session: Session, *, user: User) -> CaseOut:
    """A new case with the institution's next pseudonymous number, e.g. H1-2026-0001."""
    code, n = repository.take_case_number(session, institution_id=user.institution_id)
    case = Case(institution_id=user.institution_id, number=format_case_number(code, utcnow().year, n),
                state=CaseState.uploaded.value, created_by_id=user.id)
    session.add(case)
    session.flush()
    record(session, "case.created", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="case", object_id=case.id, details={"number": case.number})
    inst = session.get(Institution, user.institution_id)
    out = _out(case, 0, [])
    out.institution_name = inst.name if inst else None
    return out


def get_case(session: Session, *, user: User, case_id: int, lock: bool = False) -> Case:
    case = repository.get_in_institution(session, case_id=case_id, institution_id=user.institution_id, lock=lock)
    if case is None:
        raise NotFound(f"Case {case_id} not found.", code="case_not_found")
    return case


def view_case(session: Session, *, user: User, case_id: int) -> CaseDetail:
    case = get_case(session, user=user, case_id=case_id)
    slides = slide_repository.list_for_case(session, case_id=case.id)
    record(session, "case.viewed", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="case", object_id=case.id)
    row = repository.worklist_row(session, case_id=case.id, institution_id=case.institution_id)
    assert row is not None
    out = CaseDetail.model_validate(_worklist_out(row, len(slides), sorted({s.stain for s in slides})).model_dump())
    out.slides = [SlideSummary.model_validate(s) for s in slides]
    return out


def list_cases(session: Session, *, user: User, state: str | None, q: str | None, created_from: datetime | None,
               created_to: datetime | None, limit: int, offset: int, ai_state: str | None = None,
               has_major: bool | None = None) -> CaseList:
    """One page of the worklist: three queries (count, rows with aggregates, slide stats) per page."""
    f = CaseFilter(state=state, q=q.strip() if q else None, created_from=created_from, created_to=created_to,
                   ai_state=ai_state, has_major=has_major)
    rows, total = repository.list_cases(session, institution_id=user.institution_id, f=f, limit=limit, offset=offset)
    stats = repository.slide_stats(session, [r.case.id for r in rows])
    items = [_worklist_out(r, *stats.get(r.case.id, (0, []))) for r in rows]
    return CaseList(items=items, total=total, limit=limit, offset=offset)


def _out(case: Case, slide_count: int, stains: list[str]) -> CaseOut:
    out = CaseOut.model_validate(case)
    out.slide_count, out.stains = slide_count, stains
    return out


def _worklist_out(row: WorklistRow, slide_count: int, stains: list[str]) -> CaseOut:
    # Only counts and job states leave here: a blinded reader sees no AI content, and current
    # discrepancies exist only once a report has been signed.
    out = _out(row.case, slide_count, stains)
    out.institution_name = row.institution_name
    if row.job_state is not None:
        out.ai_state = AiState(state=AiStateName(row.job_state), progress=row.job_progress)
    out.major_discrepancies = row.major_discrepancies
    if row.alert_id is not None:
        out.open_alert = OpenAlert(id=row.alert_id, state=row.alert_state or "open", assignee_id=row.alert_assignee_id,
                                   assignee_name=row.alert_assignee_name)
    return out


# While the blinded first read hides the AI, analysis and assessment events keep only these keys:
# a reader must not learn glomerulus counts or model output from the audit trail either.
BLINDED_SAFE_KEYS: dict[str, frozenset[str]] = {
    "analysis.": frozenset({"slide_id", "case_id", "mpp_override", "attempt", "worker", "state", "reason",
                            "dead_worker", "error"}),
    "assessment.": frozenset({"assessment_id", "trigger", "rules_version", "job_ids"}),
}


def _visible_details(action: str, details: dict[str, Any], *, ai_visible: bool) -> dict[str, Any]:
    if ai_visible:
        return details
    for prefix, safe in BLINDED_SAFE_KEYS.items():
        if action.startswith(prefix):
            kept = {k: v for k, v in details.items() if k in safe}
            if len(kept) < len(details):
                kept["ai_details_hidden"] = True
            return kept
    return details


def case_history(session: Session, *, user: User, case_id: int, limit: int = 500) -> CaseHistory:
    """The case's audit trail (its own events and those of its slides, jobs, reports, comparisons and
    alerts), newest first; another institution's case is a 404."""
    case = get_case(session, user=user, case_id=case_id)
    visible = ai_visible(session, case_id=case.id, user=user)
    return CaseHistory(items=[
        HistoryEvent(id=ev.id, ts=ev.ts, action=ev.action, actor_user_id=ev.actor_user_id, actor_name=name,
                     object_type=ev.object_type, object_id=ev.object_id,
                     details=_visible_details(ev.action, dict(ev.details or {}), ai_visible=visible))
        for ev, name in repository.history(session, case=case, limit=limit)
    ])
