"""Queries on report versions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Report


def versions(session: Session, *, case_id: int) -> list[Report]:
    return list(session.execute(select(Report).where(Report.case_id == case_id).order_by(Report.version)).scalars())


def latest(session: Session, *, case_id: int) -> Report | None:
    return session.execute(
        select(Report).where(Report.case_id == case_id).order_by(Report.version.desc()).limit(1)
    ).scalar_one_or_none()


def latest_signed(session: Session, *, case_id: int) -> Report | None:
    return session.execute(
        select(Report)
        .where(Report.case_id == case_id, Report.status == "signed")
        .order_by(Report.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def has_signed_by(session: Session, *, case_id: int, user_id: int) -> bool:
    return session.execute(
        select(Report.id).where(Report.case_id == case_id, Report.status == "signed", Report.author_id == user_id)
    ).first() is not None


def open_draft_by(session: Session, *, case_id: int, user_id: int) -> Report | None:
    return session.execute(
        select(Report).where(Report.case_id == case_id, Report.status == "draft", Report.author_id == user_id)
    ).scalars().first()


def lock(session: Session, *, report_id: int) -> Report | None:
    """Row lock on PostgreSQL so two concurrent signs/edits of one version serialise."""
    return session.execute(select(Report).where(Report.id == report_id).with_for_update()).scalar_one_or_none()
