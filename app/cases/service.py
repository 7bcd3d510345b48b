"""Create, list and open cases; all scoped to the caller's institution (others' cases are 404)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.audit.service import record
from app.cases import repository
from app.cases.repository import CaseFilter
from app.cases.schemas import CaseDetail, CaseList, CaseOut
from app.db.base import utcnow
from app.db.models import Case, CaseState, User
from app.errors import NotFound
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
    return _out(case, 0, [])


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
    out = CaseDetail.model_validate(case)
    out.slides = [SlideSummary.model_validate(s) for s in slides]
    out.slide_count = len(slides)
    out.stains = sorted({s.stain for s in slides})
    return out


def list_cases(session: Session, *, user: User, state: str | None, q: str | None, created_from: datetime | None,
               created_to: datetime | None, limit: int, offset: int) -> CaseList:
    f = CaseFilter(state=state, q=q.strip() if q else None, created_from=created_from, created_to=created_to)
    cases, total = repository.list_cases(session, institution_id=user.institution_id, f=f, limit=limit, offset=offset)
    stats = repository.slide_stats(session, [c.id for c in cases])
    items = [_out(c, *stats.get(c.id, (0, []))) for c in cases]
    return CaseList(items=items, total=total, limit=limit, offset=offset)


def _out(case: Case, slide_count: int, stains: list[str]) -> CaseOut:
    out = CaseOut.model_validate(case)
    out.slide_count, out.stains = slide_count, stains
    return out
