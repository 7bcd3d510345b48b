"""Case queries; every one is scoped to an institution."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from app.db.models import Case, Institution, Slide


@dataclass
class CaseFilter:
    state: str | None = None
    q: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


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


def _filtered(institution_id: int, f: CaseFilter) -> Select[Case]:
    stmt = select(Case).where(Case.institution_id == institution_id)
    if f.state:
        stmt = stmt.where(Case.state == f.state)
    if f.q:
        like = "%" + f.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(Case.number.ilike(like, escape="\\"))
    if f.created_from:
        stmt = stmt.where(Case.created_at >= f.created_from)
    if f.created_to:
        stmt = stmt.where(Case.created_at < f.created_to)
    return stmt


def list_cases(session: Session, *, institution_id: int, f: CaseFilter, limit: int, offset: int) -> tuple[list[Case], int]:
    stmt = _filtered(institution_id, f)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


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
