"""Slide queries, always scoped to one institution: another institution's slide simply does not exist."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Slide


def get_in_institution(session: Session, *, slide_id: int, institution_id: int) -> Slide | None:
    return session.execute(
        select(Slide).where(Slide.id == slide_id, Slide.institution_id == institution_id)
    ).scalar_one_or_none()


def list_for_case(session: Session, *, case_id: int) -> list[Slide]:
    return list(session.execute(select(Slide).where(Slide.case_id == case_id).order_by(Slide.id)).scalars())
