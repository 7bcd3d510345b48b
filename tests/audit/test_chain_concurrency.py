"""The audit chain stays linear under concurrent appenders on both backends (no fork, no 500)."""

from __future__ import annotations

import threading

from sqlalchemy import text, update

from app.audit.service import record, verify_chain
from app.db.models import AuditEvent
from app.db.session import session_scope
from tests.conftest import DbUnderTest


def test_concurrent_appends_keep_one_chain(db: DbUnderTest) -> None:
    errors: list[str] = []

    def work(i: int) -> None:
        for j in range(15):
            try:
                with session_scope() as s:
                    s.execute(text("SELECT 1"))  # a read first, as audited GET routes do
                    record(s, "test.concurrent", details={"i": i, "j": j})
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope() as s:
        report = verify_chain(s)
    assert report.ok and report.checked == 90


def test_verify_detects_a_changed_event(db: DbUnderTest) -> None:
    with session_scope() as s:
        for k in range(3):
            record(s, "test.event", details={"k": k})
    with session_scope() as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == 2).values(details={"k": 99}))
    with session_scope() as s:
        report = verify_chain(s)
    assert not report.ok and report.first_bad_id == 2
