"""Structured reports: draft, sign, amend; and the blinded-first-read gate on AI results.

A signed version is immutable: an amendment is a new version that supersedes it (DOMAIN.md §1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.assessment.service import blinded_read_enabled
from app.audit.service import record
from app.db.base import utcnow
from app.db.models import Case, CaseState, Institution, Report, User
from app.errors import Conflict, Forbidden, NotFound
from app.reports import repository as repo
from app.reports.access import get_case_for, is_admin, record_view, require_pathologist, set_case_state
from app.reports.schemas import ReportIn

REPORT_FIELDS = tuple(ReportIn.model_fields)


def _values(body: ReportIn) -> dict[str, object]:
    return body.model_dump(mode="json")


def not_assessed(values: dict[str, object]) -> list[str]:
    """Fields explicitly left "not assessed" (null), in form order."""
    return [f for f in REPORT_FIELDS if values.get(f) is None]


# --- blinded first read -------------------------------------------------------------------------


def ai_visible(session: Session, *, case_id: int, user: User) -> bool:
    """Whether ``user`` may see the case's AI results now.

    With the blinded first read on (the default), AI results stay hidden from pathologists until the
    case's first report is signed: the author must not be anchored, and a colleague reading them
    before the first read is done could pass them on. Admins never write reports, so they may look.
    """
    case = session.get(Case, case_id)
    if case is None:
        return False
    inst = session.get(Institution, case.institution_id)
    if inst is None or not blinded_read_enabled(inst):
        return True
    if repo.latest_signed(session, case_id=case_id) is not None:
        return True
    return is_admin(user) and repo.open_draft_by(session, case_id=case_id, user_id=user.id) is None


def ensure_ai_visible(session: Session, *, case_id: int, user: User) -> None:
    """Call before returning any AI result of a case (assessment, glomeruli, overlays, comparisons)."""
    if not ai_visible(session, case_id=case_id, user=user):
        raise Forbidden(
            f"AI results of case {case_id} stay hidden until the first structured report is signed "
            "(blinded first read). Sign your report to see them.",
            code="blinded_first_read",
            extra={"case_id": case_id},
        )


# --- reading ------------------------------------------------------------------------------------


def list_versions(session: Session, *, case_id: int, user: User) -> list[Report]:
    case = get_case_for(session, case_id=case_id, user=user)
    record_view(session, case=case, user=user, part="reports")
    return repo.versions(session, case_id=case_id)


def current_report(session: Session, *, case_id: int, user: User) -> Report:
    case = get_case_for(session, case_id=case_id, user=user)
    rep = repo.latest(session, case_id=case_id)
    if rep is None:
        raise NotFound(f"Case {case_id} has no report yet.", code="report_not_found")
    record_view(session, case=case, user=user, part="report")
    return rep


def _load_for_write(session: Session, *, report_id: int, user: User) -> tuple[Report, Case]:
    rep = repo.lock(session, report_id=report_id)
    if rep is None:
        raise NotFound(f"Report {report_id} does not exist.", code="report_not_found")
    case = get_case_for(session, case_id=rep.case_id, user=user, write=True)
    return rep, case


# --- writing ------------------------------------------------------------------------------------


def create_draft(session: Session, *, case_id: int, user: User, body: ReportIn) -> Report:
    """Start the first read of a case; a case has one report chain, later changes are amendments."""
    require_pathologist(user)
    case = get_case_for(session, case_id=case_id, user=user, write=True)
    existing = repo.latest(session, case_id=case_id)
    if existing is not None:
        raise Conflict(
            f"Case {case_id} already has a report (version {existing.version}, {existing.status}); "
            "edit the draft or amend the signed version.",
            code="report_exists",
            extra={"report_id": existing.id},
        )
    rep = Report(case_id=case_id, institution_id=case.institution_id, version=1, author_id=user.id,
                 status="draft", values=_values(body))
    session.add(rep)
    session.flush()
    record(session, "report.created", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="report", object_id=rep.id, details={"case_id": case_id, "version": 1})
    return rep


def update_draft(session: Session, *, report_id: int, user: User, body: ReportIn) -> Report:
    rep, case = _load_for_write(session, report_id=report_id, user=user)
    if rep.status == "signed":
        raise Conflict(
            f"Report {report_id} (version {rep.version}) is signed and cannot be changed; amend it instead.",
            code="report_signed",
            extra={"report_id": rep.id},
        )
    if rep.author_id != user.id:
        raise Forbidden("Only the author may edit a draft report.", code="not_report_author")
    before = rep.values
    rep.values = _values(body)
    rep.updated_at = utcnow()
    session.flush()
    changed = sorted(k for k in set(before) | set(rep.values) if before.get(k) != rep.values.get(k))
    record(session, "report.updated", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="report", object_id=rep.id, details={"case_id": case.id, "changed": changed})
    return rep


@dataclass
class SignResult:
    report: Report
    comparison_id: int | None = None
    outcome: str | None = None
    alert_ids: list[int] = field(default_factory=list)


def sign(session: Session, *, report_id: int, user: User) -> SignResult:
    """Sign a draft; the comparison with the AI runs at once if AI results are ready."""
    from app.discrepancies.service import compare_case

    rep, case = _load_for_write(session, report_id=report_id, user=user)
    if rep.status == "signed":
        raise Conflict(f"Report {report_id} is already signed.", code="report_signed", extra={"report_id": rep.id})
    if rep.author_id != user.id:
        raise Forbidden("Only the author may sign a report.", code="not_report_author")
    rep.status = "signed"
    rep.signed_at = utcnow()
    rep.updated_at = rep.signed_at
    session.flush()
    record(session, "report.signed", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="report", object_id=rep.id,
           details={"case_id": case.id, "version": rep.version, "values": rep.values})
    if case.state in _BEFORE_SIGNED:
        set_case_state(session, case=case, to=CaseState.report_signed, actor_id=user.id, reason="report signed")
    result = compare_case(session, case_id=case.id, trigger="report_signed", actor_id=user.id)
    if result is None:
        return SignResult(rep)
    return SignResult(rep, result.comparison.id, result.comparison.outcome, result.alert_ids)


# Not "analyzing": the worker moves an analysing case to ai_ready itself and then calls on_ai_results.
_BEFORE_SIGNED = {s.value for s in (CaseState.uploaded, CaseState.deidentified, CaseState.ai_ready)}


def amend(session: Session, *, report_id: int, user: User, reason: str, body: ReportIn | None) -> Report:
    """Open a new draft version superseding the latest signed one."""
    require_pathologist(user)
    rep, case = _load_for_write(session, report_id=report_id, user=user)
    latest = repo.latest(session, case_id=case.id)
    assert latest is not None
    if rep.status != "signed" or latest.id != rep.id:
        raise Conflict(
            f"Only the latest signed version can be amended (latest is version {latest.version}, {latest.status}).",
            code="not_latest_signed",
            extra={"report_id": latest.id},
        )
    new = Report(case_id=case.id, institution_id=case.institution_id, version=rep.version + 1,
                 author_id=user.id, status="draft", values=_values(body) if body else dict(rep.values),
                 supersedes_id=rep.id, amendment_reason=reason)
    session.add(new)
    session.flush()
    record(session, "report.amendment_started", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="report", object_id=new.id,
           details={"case_id": case.id, "version": new.version, "supersedes": rep.id, "reason": reason})
    return new
