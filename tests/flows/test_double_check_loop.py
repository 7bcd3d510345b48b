"""The whole double check on PostgreSQL with a real SMTP server (aiosmtpd), and once through a real
`glomcheck worker` on Redis: AI results + discordant signed report → major discrepancy → alert to a
different pathologist → e-mail → acknowledged → resolved → statistics and CSV updated."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import tests.conftest as tc
from app.audit.service import verify_chain
from app.db.models import AnalysisJob, Case, JobState
from app.db.session import session_scope
from tests.alerts.smtp import Inbox, smtp_server
from tests.conftest import REDIS_URL, REPO, Person, configure, login, make_user
from tests.reports.factories import add_ai_results, glomeruli, make_case
from tests.reports.test_reports import CONCORDANT, DISCORDANT, write_report


@pytest.fixture
def people(pg: tc.DbUnderTest) -> dict[str, Person]:
    return {"author": make_user("author@h1.example"), "reader": make_user("reader@h1.example"),
            "admin": make_user("admin@h1.example", role="admin"),
            "elsewhere": make_user("path@h2.example", institution="H2")}


@pytest.fixture
def client(pg: tc.DbUnderTest) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app()) as c:
        yield c


def case_state(case_id: int) -> str:
    with session_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        return case.state


def run_loop(client: TestClient, p: dict[str, Person], inbox: Inbox, case_id: int, concordant_case_id: int) -> None:
    author, reader, admin = p["author"], p["reader"], p["admin"]

    # Blinded first read: the author writes without seeing the AI.
    login(client, author)
    rep = write_report(client, case_id, DISCORDANT)
    r = client.get(f"/api/cases/{case_id}/assessment")
    assert r.status_code == 403 and r.json()["error"] == "blinded_first_read"

    signed = client.post(f"/api/reports/{rep['id']}/sign").json()
    assert signed["outcome"] == "discrepant" and len(signed["alert_ids"]) == 1
    alert_id = signed["alert_ids"][0]
    comp = client.get(f"/api/cases/{case_id}/comparison").json()
    majors = {d["field"] for d in comp["discrepancies"] if d["severity"] == "major"}
    assert {"C", "n_cellular_crescent"} <= majors
    assert case_state(case_id) == "discrepant"

    # The concordant case raises nothing.
    other = write_report(client, concordant_case_id, CONCORDANT)
    assert client.post(f"/api/reports/{other['id']}/sign").json() | {"report": None} == {
        "report": None, "comparison_id": client.get(f"/api/cases/{concordant_case_id}/comparison").json()["id"],
        "outcome": "concordant", "alert_ids": []}

    # E-mail to the assigned second reader, a different pathologist of the same site.
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["X-Envelope-To"] == reader.email and "Second read" in str(msg["Subject"])
    assert f"alert={alert_id}" in msg.get_payload(decode=True).decode()  # type: ignore[union-attr]

    login(client, reader)
    bell = client.get("/api/notifications").json()
    assert bell["unread"] == 1 and bell["items"][0]["payload"]["alert_id"] == alert_id
    queue = client.get("/api/alerts").json()
    assert [a["id"] for a in queue] == [alert_id] and queue[0]["email_status"] == "sent"
    assert client.post(f"/api/alerts/{alert_id}/acknowledge").json()["state"] == "acknowledged"
    assert case_state(case_id) == "second_read"
    r = client.put(f"/api/alerts/{alert_id}/second-read",
                   json={"n_glomeruli": 12, "n_cellular_crescent": 4, "C": 2, "h_grade": "II", "M": 0, "E": 0,
                         "S": 0})
    assert r.status_code == 200
    r = client.post(f"/api/alerts/{alert_id}/resolve", json={"note": "no reason given"})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    r = client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "original_confirmed", "note": "re-read"})
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    assert case_state(case_id) == "resolved"

    # Statistics and CSV.
    login(client, admin)
    stats = client.get("/api/admin/agreement").json()
    assert stats["comparisons"] == 2
    c_ai = next(s for s in stats["ai_vs_pathologist"] if s["score"] == "C")
    assert c_ai["n"] == 2 and c_ai["percent_agreement"] == 50.0 and c_ai["labels"] == ["0", "2"]
    assert c_ai["matrix"] == [[0, 0], [1, 1]]  # rows AI, columns pathologist
    c_2nd = next(s for s in stats["pathologist_vs_second_reader"] if s["score"] == "C")
    assert c_2nd["n"] == 1 and c_2nd["percent_agreement"] == 0.0
    month = stats["monthly"][-1]
    assert month["comparisons"] == 2 and month["discrepant"] == 1 and month["major"] >= 2

    page = client.get("/api/admin/discrepancies?state=resolved&severity=major").json()
    assert page["total"] == len(majors) and {i["alert_id"] for i in page["items"]} == {alert_id}
    assert all(i["resolution_reason"] == "original_confirmed" for i in page["items"])
    r = client.get("/api/admin/discrepancies.csv?severity=major")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(majors) and {row["state"] for row in rows} == {"resolved"}
    assert {row["field"] for row in rows} == majors
    audit = client.get("/api/admin/audit?action=admin.export").json()
    assert audit["total"] == 1 and audit["items"][0]["details"]["rows"] == len(majors)
    assert audit["chain"]["ok"] is True

    for action in ("case.viewed", "report.signed", "comparison.completed", "alert.opened", "alert.email_sent",
                   "alert.acknowledged", "alert.resolved", "case.state_changed"):
        assert client.get(f"/api/admin/audit?action={action}").json()["total"] >= 1, action
    with session_scope() as s:
        assert verify_chain(s).ok


def test_whole_loop_on_postgresql(client: TestClient, people: dict[str, Person]) -> None:
    inst = people["author"].institution_id
    case_id = make_case(institution_id=inst, number="LOOP-1")
    add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
    ok_id = make_case(institution_id=inst, number="LOOP-2")
    add_ai_results(case_id=ok_id, findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
    with smtp_server() as inbox:
        run_loop(client, people, inbox, case_id, ok_id)


# --- through a real Celery worker ---------------------------------------------------------------


def _wait(cond: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def redis_worker(pg: tc.DbUnderTest, tmp_path: Path) -> Iterator[None]:
    """A real `glomcheck worker` process on Redis running the crescent pipeline."""
    from worker import jobs

    queue = f"glomcheck.flow.{uuid.uuid4().hex[:8]}"
    configure(None, broker_url=REDIS_URL, task_queue=queue, analysis_pipeline="tests.flows.crescent_pipeline:analyze",
              heartbeat_interval_s="0.3", heartbeat_timeout_s="5")
    jobs.clear_settings_cache()
    log = tmp_path / "worker.log"
    proc = subprocess.Popen([sys.executable, "-m", "worker.cli", "--pool", "solo", "--concurrency", "1"],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: " ready." in log.read_text(errors="replace") or proc.poll() is not None, 30, "worker start")
        assert proc.poll() is None, log.read_text(errors="replace")
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
        configure(None, broker_url=None, task_queue=None, analysis_pipeline=None, heartbeat_interval_s=None,
                  heartbeat_timeout_s=None)
        jobs.clear_settings_cache()
        import redis

        redis.Redis.from_url(REDIS_URL).delete(queue)


def test_whole_loop_through_a_real_celery_worker(redis_worker: None, client: TestClient,
                                                 people: dict[str, Person]) -> None:
    from tests.analysis.factories import make_slide

    author = people["author"]
    slides = [make_slide(author), make_slide(author)]
    login(client, author)
    for slide in slides:
        r = client.post(f"/api/slides/{slide.id}/analyze", json={})
        assert r.status_code == 202, r.text

    def done() -> bool:
        with session_scope() as s:
            states = s.execute(select(AnalysisJob.state)).scalars().all()
        assert JobState.failed.value not in states
        return len(states) == 2 and set(states) == {JobState.succeeded.value}

    _wait(done, 60, "both analyses")
    _wait(lambda: all(case_state(sl.case_id) == "ai_ready" for sl in slides), 10, "cases ai_ready")
    with smtp_server() as inbox:
        run_loop(client, people, inbox, slides[0].case_id, slides[1].case_id)
