"""Queries on comparisons and stored discrepancies."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from app.db.filters import scoped_period
from app.db.models import Comparison, Discrepancy


def supersede(session: Session, *, case_id: int) -> None:
    """Older comparisons stay for history and statistics over time; only the newest is current."""
    session.execute(update(Comparison).where(Comparison.case_id == case_id).values(is_current=False))
    session.execute(update(Discrepancy).where(Discrepancy.case_id == case_id).values(is_current=False))


def current_comparison(session: Session, *, case_id: int) -> Comparison | None:
    return session.execute(
        select(Comparison).where(Comparison.case_id == case_id, Comparison.is_current.is_(True))
        .order_by(Comparison.id.desc()).limit(1)
    ).scalar_one_or_none()


def for_comparison(session: Session, *, comparison_id: int) -> list[Discrepancy]:
    return list(session.execute(
        select(Discrepancy).where(Discrepancy.comparison_id == comparison_id).order_by(Discrepancy.id)
    ).scalars())


def filtered(
    *,
    institution_ids: Sequence[int] | None,
    since: datetime | None = None,
    until: datetime | None = None,
    pathologist_id: int | None = None,
    finding: str | None = None,
    severity: str | None = None,
    current_only: bool = True,
) -> Select[Discrepancy]:
    """The admin list's filters; ``institution_ids=None`` means every institution (network admin)."""
    q = scoped_period(select(Discrepancy), institution_col=Discrepancy.institution_id,
                      created_col=Discrepancy.created_at, institution_ids=institution_ids, since=since, until=until)
    if pathologist_id is not None:
        q = q.where(Discrepancy.pathologist_id == pathologist_id)
    if finding:
        q = q.where(or_(Discrepancy.finding == finding, Discrepancy.field == finding))
    if severity:
        q = q.where(Discrepancy.severity == severity)
    if current_only:
        q = q.where(Discrepancy.is_current.is_(True))
    return q
