"""End to end through a real `glomcheck worker` process, on PostgreSQL + Redis and on the embedded defaults."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import AnalysisJob, AuditEvent, Case, Glomerulus
from app.db.session import session_scope
from tests.analysis.factories import make_slide
from tests.conftest import Person, login, make_user, set_blinded_read
from tests.integration.conftest import Stack, wait_for
from tests.worker import fake_pipeline


def reading_user(email: str, **kw: str) -> Person:
    """A pathologist whose institution has the blinded first read off: these flows read the AI results
    before any report exists (the blinded read itself is tested in tests/reports)."""
    person = make_user(email, **kw)
    set_blinded_read(person.institution_id, False)
    return person


FAKE = "tests.worker.fake_pipeline:analyze"
# Pinned so the flow does not depend on trained model files being present; the model pipeline has its
# own tests, and `worker.jobs.resolve_pipeline` switches to it by default when it is installed.
TISSUE_ONLY = "worker.jobs:tissue_only_pipeline"


def read_sse(client: TestClient, job_id: int) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line[6:])))
                if name == "end":
                    break
    return events


def job_json(client: TestClient, job_id: int) -> dict[str, Any]:
    r = client.get(f"/api/jobs/{job_id}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def audit_actions(job_id: int) -> list[str]:
    with session_scope() as s:
        return list(s.execute(select(AuditEvent.action).where(
            AuditEvent.object_type == "analysis_job", AuditEvent.object_id == str(job_id)).order_by(AuditEvent.id)
        ).scalars())


def test_analysis_runs_in_a_real_worker_and_progress_is_visible(stack: Stack, client: TestClient) -> None:
    stack.start_worker(analysis_pipeline=TISSUE_ONLY)
    person = reading_user("flow@h1.example")
    slide = make_slide(person)
    login(client, person)

    r = client.post(f"/api/slides/{slide.id}/analyze", json={})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "queued" and job["slide_id"] == slide.id

    events = read_sse(client, job["id"])
    assert events[-1] == ("end", {"state": "succeeded"})
    states = [e["state"] for name, e in events if name == "job"]
    assert states[-1] == "succeeded" and "running" in states or states == ["succeeded"]
    progress = [e["progress"] for name, e in events if name == "job"]
    assert progress == sorted(progress) and progress[-1] == 1.0

    done = job_json(client, job["id"])
    assert done["state"] == "succeeded" and done["attempts"] == 1 and done["error"] is None
    assert done["result"]["n_glomeruli"] >= 0 and "total" in done["timings_s"]
    assert [j["id"] for j in client.get(f"/api/slides/{slide.id}/jobs").json()] == [job["id"]]
    glom = client.get(f"/api/slides/{slide.id}/glomeruli").json()
    assert glom["job"]["id"] == job["id"] and isinstance(glom["glomeruli"], list)
    with session_scope() as s:
        assert s.get(Case, slide.case_id).state == "ai_ready"  # type: ignore[union-attr]
    if stack.kind == "embedded":  # delivered messages do not pile up in the embedded broker's table
        broker_db = stack.tmp / "var" / "broker.db"
        wait_for(lambda: _delivered_rows(broker_db) == 0, 10, "the worker to purge delivered messages")


def _delivered_rows(path: Path) -> int:
    con = sqlite3.connect(path, timeout=30)
    try:
        return int(con.execute("SELECT count(*) FROM kombu_message WHERE visible = 0").fetchone()[0])
    finally:
        con.close()


# Seconds per fake stage when a test must catch a job mid-way: the test has the last two stages (3 s) to see
# it, so a poll delayed by a busy machine (a cold CI venv, SQLite write locks) cannot miss the window.
MID_JOB_STAGE_S = "1.5"


def past_first_stage(job: dict[str, Any]) -> bool:
    """Running and past the fake pipeline's first stage, i.e. mid-job (killing now interrupts real work)."""
    return job["state"] == "running" and job["stage"] in fake_pipeline.STAGES[1:]


def test_worker_killed_mid_job_the_job_completes_exactly_once(stack: Stack, client: TestClient) -> None:
    env = {"analysis_pipeline": FAKE, "test_stage_delay_s": MID_JOB_STAGE_S}
    first = stack.start_worker(**env)
    person = reading_user("kill@h1.example")
    slide = make_slide(person)
    login(client, person)
    job_id = client.post(f"/api/slides/{slide.id}/analyze").json()["id"]

    # Mid-job: the second of three stages.
    wait_for(lambda: past_first_stage(job_json(client, job_id)), 20, "the job to pass its first stage")
    first.kill()
    killed = job_json(client, job_id)
    assert killed["state"] == "running" and killed["attempts"] == 1

    stack.start_worker(**env)
    wait_for(lambda: job_json(client, job_id)["state"] not in ("queued", "running"), 40, "the job to finish")

    done = job_json(client, job_id)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2
    with session_scope() as s:
        rows = s.execute(select(Glomerulus.index).where(Glomerulus.job_id == job_id)).scalars().all()
        total = s.execute(select(func.count()).select_from(Glomerulus)).scalar_one()
        assert s.execute(select(func.count()).select_from(AnalysisJob)).scalar_one() == 1
    assert sorted(rows) == list(range(fake_pipeline.N_GLOMERULI)) and total == fake_pipeline.N_GLOMERULI
    assert audit_actions(job_id) == ["analysis.requested", "analysis.started", "analysis.requeued",
                                     "analysis.started", "analysis.succeeded"]
    assert len(client.get(f"/api/slides/{slide.id}/glomeruli").json()["glomeruli"]) == fake_pipeline.N_GLOMERULI


def test_cancel_stops_a_running_job(stack: Stack, client: TestClient) -> None:
    stack.start_worker(analysis_pipeline=FAKE, test_stage_delay_s="2.0")
    person = reading_user("cancel@h1.example")
    slide = make_slide(person)
    login(client, person)
    job_id = client.post(f"/api/slides/{slide.id}/analyze").json()["id"]
    wait_for(lambda: job_json(client, job_id)["state"] == "running", 20, "the job to start")

    r = client.post(f"/api/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json()["cancel_requested"] is True
    wait_for(lambda: job_json(client, job_id)["state"] == "cancelled", 10, "the worker to stop")
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 409
    assert client.get(f"/api/slides/{slide.id}/glomeruli").json() == {"job": None, "glomeruli": []}
    with session_scope() as s:
        assert s.get(Case, slide.case_id).state == "uploaded"  # type: ignore[union-attr]
    # The slide can be analysed again once the cancelled job is out of the way.
    assert client.post(f"/api/slides/{slide.id}/analyze").status_code == 202


def test_pool_child_killed_mid_job_the_same_worker_recovers_it(stack: Stack, client: TestClient) -> None:
    """Only the prefork child dies: Celery re-queues the message (reject_on_worker_lost), the duplicate is
    a no-op while the dead lease is fresh, and the reaper hands the job back once it is stale."""
    import os
    import signal

    import psutil

    w = stack.start_worker(analysis_pipeline=FAKE, test_stage_delay_s=MID_JOB_STAGE_S)
    person = reading_user("child@h1.example")
    slide = make_slide(person)
    login(client, person)
    job_id = client.post(f"/api/slides/{slide.id}/analyze").json()["id"]
    wait_for(lambda: past_first_stage(job_json(client, job_id)), 20, "the job to pass its first stage")
    children = psutil.Process(w.proc.pid).children()
    assert len(children) == 1
    os.kill(children[0].pid, signal.SIGKILL)

    wait_for(lambda: job_json(client, job_id)["state"] not in ("queued", "running"), 40, "the job to finish")
    done = job_json(client, job_id)
    assert done["state"] == "succeeded" and done["attempts"] == 2
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(Glomerulus)).scalar_one() == fake_pipeline.N_GLOMERULI
    assert w.proc.poll() is None  # the worker itself survived
