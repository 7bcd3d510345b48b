"""Append-only, hash-chained audit log: any changed or deleted row breaks the chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db.base import utcnow
from app.db.models import AuditEvent

GENESIS = "0" * 64


def event_hash(
    *,
    prev_hash: str,
    ts: datetime,
    institution_id: int | None,
    actor_user_id: int | None,
    action: str,
    object_type: str | None,
    object_id: str | None,
    details: dict[str, Any],
) -> str:
    """SHA-256 over a canonical JSON of the event and the previous hash."""
    payload = json.dumps(
        [prev_hash, ts.isoformat(), institution_id, actor_user_id, action, object_type, object_id, details],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def hash_of(ev: AuditEvent) -> str:
    """The hash an event must carry, from its stored fields (used when writing and when verifying)."""
    return event_hash(prev_hash=ev.prev_hash, ts=ev.ts, institution_id=ev.institution_id,
                      actor_user_id=ev.actor_user_id, action=ev.action, object_type=ev.object_type,
                      object_id=ev.object_id, details=ev.details)


def record(
    session: Session,
    action: str,
    *,
    institution_id: int | None = None,
    actor_user_id: int | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction (it commits or rolls back with the change)."""
    # Serialise appenders so two transactions never chain onto the same predecessor.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7310420001)"))
    elif dialect == "sqlite":
        # pysqlite runs SELECTs outside a transaction until the first write; a no-op write takes the
        # database write lock first, so the predecessor read below is the latest committed one.
        session.execute(text("UPDATE audit_events SET id = id WHERE 1 = 0"))
    last = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)).scalar()
    prev = last or GENESIS
    now = utcnow()
    ts = now.replace(microsecond=(now.microsecond // 1000) * 1000)  # round-trips exactly on both backends
    det = json.loads(json.dumps(details or {}, default=str))
    oid = None if object_id is None else str(object_id)
    ev = AuditEvent(
        ts=ts,
        institution_id=institution_id,
        actor_user_id=actor_user_id,
        action=action,
        object_type=object_type,
        object_id=oid,
        details=det,
        prev_hash=prev,
    )
    ev.hash = hash_of(ev)
    session.add(ev)
    session.flush()
    return ev


@dataclass
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str | None = None


def verify_chain(session: Session) -> ChainReport:
    """Walk the log in id order and recompute every hash."""
    prev = GENESIS
    n = 0
    for ev in session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars():
        n += 1
        if ev.prev_hash != prev:
            return ChainReport(False, n, ev.id, "previous hash does not match: an event was deleted or reordered")
        if hash_of(ev) != ev.hash:
            return ChainReport(False, n, ev.id, "content does not match its hash: the event was changed")
        prev = ev.hash
    return ChainReport(True, n)
