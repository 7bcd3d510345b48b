"""Case state transitions (DOMAIN.md §1): the one place that moves a case and audits it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.audit.service import record
from app.db.models import Case, CaseState


def set_case_state(session: Session, case: Case, to: CaseState | str, *, actor_user_id: int | None, reason: str,
                   only_from: Iterable[CaseState | str] | None = None) -> bool:
    """Move ``case`` to ``to`` and audit ``case.state_changed``; True if it moved.

    With ``only_from`` the move is one conditional UPDATE, so concurrent requests (two uploads into
    one case) move and audit it once; a case in any other state is left alone.
    """
    new = CaseState(to).value
    if only_from is None:
        if case.state == new:
            return False
        old = case.state
        case.state = new
        session.flush()
    else:
        allowed = [CaseState(s).value for s in only_from]
        old = case.state
        res = session.execute(
            update(Case).where(Case.id == case.id, Case.state.in_(allowed), Case.state != new)
            .values(state=new).execution_options(synchronize_session=False)
        )
        session.refresh(case, ["state", "updated_at"])
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return False
        old = old if old in allowed else allowed[0]
    record(session, "case.state_changed", institution_id=case.institution_id, actor_user_id=actor_user_id,
           object_type="case", object_id=case.id, details={"from": old, "to": new, "reason": reason})
    return True
