"""Case queries; every one is scoped to an institution."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from app.db.models import (
    Alert,
    AnalysisJob,
    AuditEvent,
    Case,
    Comparison,
    Discrepancy,
    Institution,
    Report,
    Slide,
    User,
)

UNRESOLVED_ALERT_STATES = ("open", "acknowledged")
NO_JOB = "none"


@dataclass
class CaseFilter:
    state: str | None = None
    q: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    ai_state: str | None = None  # a JobState value, or "none" for cases never analysed
    has_major: bool | None = None


@dataclass
class WorklistRow:
    """One case with what the worklist shows beside it, read in the same query as the case."""

    case: Case
    institution_name: str
    job_state: str | None
    job_progress: float | None
    major_discrepancies: int
    alert_id: int | None
    alert_state: str | None
    alert_assignee_id: int | None
    alert_assignee_name: str | None


def take_case_number(session: Session, *, institution_id: int) -> tuple[str, int]:
    """Atomically take the institution's next case number (the UPDATE holds the row lock on
    PostgreSQL until commit; SQLite serialises writers), returning (institution code, number)."""
    row = session.execute(
        update(Institution)
        .where(Institution.id == institution_id)
        .values(next_case_number=Institution.next_case_number + 1)
        .returning(Institution.code, Institution.next_case_number)
    ).one()
    return row[0], int(row[1]) - 1


def get_in_institution(session: Session, *, case_id: int, institution_id: int, lock: bool = False) -> Case | None:
    stmt = select(Case).where(Case.id == case_id, Case.institution_id == institution_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def _worklist(institution_id: int) -> tuple[Select[Unpack[tuple[Any, ...]]], Any, Any]:
    """Cases of one institution joined to per-case aggregates (latest job, current majors, open alert).

    Every aggregate is a grouped subquery restricted to the institution, so a page of cases costs one
    query however many slides, jobs or discrepancies the cases have.
    """
    latest_job = (
        select(Slide.case_id.label("case_id"), func.max(AnalysisJob.id).label("job_id"))
        .join(AnalysisJob, AnalysisJob.slide_id == Slide.id)
        .where(Slide.institution_id == institution_id)
        .group_by(Slide.case_id)
        .subquery("latest_job")
    )
    job = aliased(AnalysisJob, name="job")
    majors = (
        select(Discrepancy.case_id.label("case_id"), func.count().label("n"))
        .where(Discrepancy.institution_id == institution_id, Discrepancy.is_current.is_(True),
               Discrepancy.severity == "major")
        .group_by(Discrepancy.case_id)
        .subquery("majors")
    )
    open_alert = (
        select(Alert.case_id.label("case_id"), func.max(Alert.id).label("alert_id"))
        .where(Alert.institution_id == institution_id, Alert.state.in_(UNRESOLVED_ALERT_STATES))
        .group_by(Alert.case_id)
        .subquery("open_alert")
    )
    alert = aliased(Alert, name="alert")
    assignee = aliased(User, name="assignee")
    n_major = func.coalesce(majors.c.n, 0)
    stmt = (
        select(Case, Institution.name, job.state, job.progress, n_major,
               alert.id, alert.state, alert.assignee_id, assignee.display_name)
        .join(Institution, Institution.id == Case.institution_id)
        .outerjoin(latest_job, latest_job.c.case_id == Case.id)
        .outerjoin(job, job.id == latest_job.c.job_id)
        .outerjoin(majors, majors.c.case_id == Case.id)
        .outerjoin(open_alert, open_alert.c.case_id == Case.id)
        .outerjoin(alert, alert.id == open_alert.c.alert_id)
        .outerjoin(assignee, assignee.id == alert.assignee_id)
        .where(Case.institution_id == institution_id)
    )
    return stmt, job.state, n_major


def _filtered(institution_id: int, f: CaseFilter) -> Select[Unpack[tuple[Any, ...]]]:
    stmt, job_state, n_major = _worklist(institution_id)
    if f.state:
        stmt = stmt.where(Case.state == f.state)
    if f.q:
        like = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(Case.number.ilike(like, escape="\\"))
    if f.created_from:
        stmt = stmt.where(Case.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(Case.created_at < f.created_to)
    if f.ai_state:
        stmt = stmt.where(job_state.is_(None) if f.ai_state == NO_JOB else job_state == f.ai_state)
    if f.has_major is not None:
        stmt = stmt.where(n_major > 0 if f.has_major else n_major == 0)
    return stmt


def _row(r: Any) -> WorklistRow:
    return WorklistRow(r[0], r[1], r[2], None if r[3] is None else float(r[3]), int(r[4] or 0), r[5], r[6], r[7], r[8])


def list_cases(session: Session, *, institution_id: int, f: CaseFilter, limit: int,
               offset: int) -> tuple[list[WorklistRow], int]:
    stmt = _filtered(institution_id, f)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit).offset(offset))
    return [_row(r) for r in rows], int(total)


def worklist_row(session: Session, *, case_id: int, institution_id: int) -> WorklistRow | None:
    """The worklist columns of one case (the detail view shows the same header as the list)."""
    stmt = _worklist(institution_id)[0]
    r = session.execute(stmt.where(Case.id == case_id)).one_or_none()
    return None if r is None else _row(r)


def slide_stats(session: Session, case_ids: list[int]) -> dict[int, tuple[int, list[str]]]:
    """Slide count and distinct stains per case, in one grouped query (portable: no array_agg)."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(Slide.case_id, Slide.stain, func.count())
        .where(Slide.case_id.in_(case_ids))
        .group_by(Slide.case_id, Slide.stain)
    ).all()
    counts: dict[int, int] = defaultdict(int)
    stains: dict[int, list[str]] = defaultdict(list)
    for case_id, stain, n in rows:
        counts[case_id] += int(n)
        stains[case_id].append(stain)
    return {cid: (counts[cid], sorted(stains[cid])) for cid in counts}


def history(session: Session, *, case: Case, limit: int) -> list[tuple[AuditEvent, str | None]]:
    """Audit events of the case and of its slides, jobs, reports, comparisons and alerts, newest first,
    each with its actor's display name; never an event of another institution."""
    ids_of = {
        "slide": select(Slide.id).where(Slide.case_id == case.id),
        "analysis_job": select(AnalysisJob.id).join(Slide, Slide.id == AnalysisJob.slide_id)
        .where(Slide.case_id == case.id),
        "report": select(Report.id).where(Report.case_id == case.id),
        "comparison": select(Comparison.id).where(Comparison.case_id == case.id),
        "alert": select(Alert.id).where(Alert.case_id == case.id),
    }
    objects = [and_(AuditEvent.object_type == "case", AuditEvent.object_id == str(case.id))]
    for object_type, ids in ids_of.items():
        wanted = [str(i) for i in session.execute(ids).scalars()]
        if wanted:
            objects.append(and_(AuditEvent.object_type == object_type, AuditEvent.object_id.in_(wanted)))
    rows = session.execute(
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(AuditEvent.institution_id == case.institution_id, or_(*objects))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    ).all()
    return [(ev, name) for ev, name in rows]
