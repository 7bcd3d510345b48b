"""Queries on alerts."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.db.models import Alert, Role, User

UNRESOLVED = ("open", "acknowledged")
# pg_advisory_xact_lock(class, institution id): the two-int key space never meets the audit log's
# single bigint key.
ASSIGNMENT_LOCK_CLASS = 7310


def lock_assignment(session: Session, *, institution_id: int) -> None:
    """Serialise choosing a second reader within one institution until the transaction ends, so two
    alerts opened at once see each other's assignment (least-loaded reader, DOMAIN.md §5).

    PostgreSQL: a transaction-scoped advisory lock (case numbering, which locks the institution row,
    is not held up). SQLite: take the database write lock now (a no-op write), so the reads that
    follow are not of a snapshot another writer is about to change.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:cls, :inst)"),
                        {"cls": ASSIGNMENT_LOCK_CLASS, "inst": institution_id})
    elif dialect == "sqlite":
        session.execute(text("UPDATE alerts SET id = id WHERE 1 = 0"))


def unresolved_for_case(session: Session, *, case_id: int) -> list[Alert]:
    return list(session.execute(
        select(Alert).where(Alert.case_id == case_id, Alert.state.in_(UNRESOLVED)).order_by(Alert.id)
    ).scalars())


def candidates(session: Session, *, institution_id: int, exclude_user_id: int) -> list[tuple[User, int]]:
    """Active pathologists of the institution except the author, fewest unresolved alerts first, then id."""
    open_count = (
        select(Alert.assignee_id, func.count().label("n"))
        .where(Alert.state.in_(UNRESOLVED), Alert.assignee_id.is_not(None))
        .group_by(Alert.assignee_id)
        .subquery()
    )
    n = func.coalesce(open_count.c.n, 0)
    rows = session.execute(
        select(User, n)
        .outerjoin(open_count, open_count.c.assignee_id == User.id)
        .where(User.institution_id == institution_id, User.role == Role.pathologist.value,
               User.is_active.is_(True), User.id != exclude_user_id)
        .order_by(n, User.id)
    ).all()
    return [(u, int(c)) for u, c in rows]


def lock(session: Session, *, alert_id: int) -> Alert | None:
    return session.execute(select(Alert).where(Alert.id == alert_id).with_for_update()).scalar_one_or_none()
