"""Query filters shared by list and statistics endpoints."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

S = TypeVar("S", bound=Select[*tuple[Any, ...]])


def scoped_period(
    q: S,
    *,
    institution_col: InstrumentedAttribute[int],
    created_col: InstrumentedAttribute[datetime],
    institution_ids: Collection[int] | None,
    since: datetime | None,
    until: datetime | None,
) -> S:
    """Restrict to institutions (None = all, for network admins) and to the half-open period [since, until)."""
    if institution_ids is not None:
        q = q.where(institution_col.in_(institution_ids))
    if since is not None:
        q = q.where(created_col >= since)
    if until is not None:
        q = q.where(created_col < until)
    return q
