"""Append-only, hash-chained audit log: any changed or deleted row breaks the chain."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    last_id: int | None = None  # the newest event verified
    last_hash: str | None = None
    full_walk_at: datetime | None = None  # when every event was last re-hashed


def _walk(session: Session, *, after_id: int = 0, prev: str = GENESIS, checked: int = 0) -> ChainReport:
    """Re-hash events with id > `after_id` in order, starting from predecessor hash `prev` (streamed)."""
    last_id = after_id or None
    q = select(AuditEvent).where(AuditEvent.id > after_id).order_by(AuditEvent.id).execution_options(yield_per=2000)
    for ev in session.execute(q).scalars():
        checked += 1
        if ev.prev_hash != prev:
            return ChainReport(False, checked, ev.id, "previous hash does not match: an event was deleted or reordered")
        if hash_of(ev) != ev.hash:
            return ChainReport(False, checked, ev.id, "content does not match its hash: the event was changed")
        prev, last_id = ev.hash, ev.id
    return ChainReport(True, checked, last_id=last_id, last_hash=prev)


def verify_chain(session: Session) -> ChainReport:
    """Walk the whole log in id order and recompute every hash (`glomcheck audit verify`)."""
    report = _walk(session)
    report.full_walk_at = utcnow()
    return report


# Process-wide result of the last walk, so the admin audit page does not re-hash the whole log on
# every request: events added since are checked on each view (the view itself adds one), and the
# whole log is walked again when the last full walk is older than FULL_WALK_EVERY.
FULL_WALK_EVERY = timedelta(minutes=5)
_last: dict[str, ChainReport] = {}  # per database URL
_last_lock = threading.Lock()


def verify_chain_recent(session: Session, *, now: datetime | None = None) -> ChainReport:
    """The chain's state for display: full walk at most every FULL_WALK_EVERY, new events always.

    A change to an old event is therefore reported within FULL_WALK_EVERY (and at once by the CLI);
    a deleted or altered newest event at once, because the new events must continue its hash.
    """
    now = now or utcnow()
    key = str(session.get_bind().engine.url)
    with _last_lock:
        prior = _last.get(key)
        anchored = prior is not None and prior.last_id is not None and session.execute(
            select(AuditEvent.hash).where(AuditEvent.id == prior.last_id)).scalar() == prior.last_hash
        if (prior is None or not anchored or prior.full_walk_at is None or prior.last_id is None
                or now - prior.full_walk_at > FULL_WALK_EVERY):
            report = verify_chain(session)
        else:
            tail = _walk(session, after_id=prior.last_id, prev=prior.last_hash or GENESIS, checked=prior.checked)
            tail.full_walk_at = prior.full_walk_at
            if tail.ok and tail.last_id is None:
                tail.last_id, tail.last_hash = prior.last_id, prior.last_hash
            report = tail
        if report.ok:
            _last[key] = report
        else:
            _last.pop(key, None)
        return report
