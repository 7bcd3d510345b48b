"""Case access and case-state transitions shared by reports, assessments, comparisons and alerts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.audit.service import record
from app.cases.state import set_case_state as move_case
from app.db.models import Case, CaseState, Role, User
from app.errors import Forbidden, NotFound

ADMIN_ROLES = (Role.admin.value, Role.network_admin.value)


def is_admin(user: User) -> bool:
    return user.role in ADMIN_ROLES


def get_case_for(session: Session, *, case_id: int, user: User, write: bool = False) -> Case:
    """A case the user may see; another institution's case is a 404 so its existence does not leak.

    Network admins read across institutions but never write clinical content.
    """
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"Case {case_id} does not exist.", code="case_not_found")
    if case.institution_id != user.institution_id:
        if user.role == Role.network_admin.value and not write:
            return case
        raise NotFound(f"Case {case_id} does not exist.", code="case_not_found")
    return case


def require_pathologist(user: User) -> None:
    if user.role != Role.pathologist.value:
        raise Forbidden("Only pathologists write reports and second reads.", code="pathologist_only")


def set_case_state(
    session: Session, *, case: Case, to: CaseState, actor_id: int | None, reason: str
) -> None:
    """Move a case along DOMAIN.md §1; every transition is an audit event (`app.cases.state`)."""
    move_case(session, case, to, actor_user_id=actor_id, reason=reason)


def record_view(session: Session, *, case: Case, user: User, part: str) -> None:
    """Audit every read of a case's clinical content (DOMAIN.md §5, issue 4 item 7)."""
    record(session, "case.viewed", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="case", object_id=case.id, details={"part": part})
