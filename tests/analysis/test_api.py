"""Analysis API on PostgreSQL and SQLite; the broker is replaced by a recorder (workers: tests/integration)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import AnalysisJob, AuditEvent, Case, Institution
from app.db.session import session_scope
from tests.analysis.factories import SlideRef, make_slide
from tests.conftest import Person, login
from tests.worker import fake_pipeline
from worker import jobs


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Job ids sent to the broker, with the job's state as a fresh session saw it at send time."""
    import worker.celery_app

    calls: list[tuple[int, str]] = []

    def fake_send(job_id: int) -> None:
        with session_scope() as s:
            job = s.get(AnalysisJob, job_id)
            calls.append((job_id, job.state if job else "<not committed>"))

    monkeypatch.setattr(worker.celery_app, "send_analyze", fake_send)
    return calls


@pytest.fixture
def slide(users: dict[str, Person]) -> SlideRef:
    return make_slide(users["path1"])


@pytest.fixture
def client(app_client: TestClient, users: dict[str, Person]) -> Iterator[TestClient]:
    yield login(app_client, users["path1"])


def case_state(case_id: int) -> str:
    with session_scope() as s:
        return s.get(Case, case_id).state  # type: ignore[union-attr]


def unblind(case_id: int) -> None:
    """Switch the case's institution's blinded first read off, so a pathologist sees AI results unsigned."""
    with session_scope() as s:
        case = s.get(Case, case_id)
        assert case is not None
        inst = s.get(Institution, case.institution_id)
        assert inst is not None
        inst.settings = {**inst.settings, "blinded_first_read": False}


def test_analyze_queues_a_job_and_sends_it_after_commit(client: TestClient, slide: SlideRef,
                                                        sent: list[tuple[int, str]]) -> None:
    r = client.post(f"/api/slides/{slide.id}/analyze", json={"mpp": 0.5})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] == "queued" and job["mpp_override"] == 0.5 and job["attempts"] == 0
    assert sent == [(job["id"], "queued")]  # the worker could already see the row when the message went out
    assert case_state(slide.case_id) == "analyzing"
    with session_scope() as s:
        acts = s.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
    assert "analysis.requested" in acts and "case.state_changed" in acts


def test_second_request_while_active_is_409(client: TestClient, slide: SlideRef, sent: list[tuple[int, str]]) -> None:
    first = client.post(f"/api/slides/{slide.id}/analyze").json()
    r = client.post(f"/api/slides/{slide.id}/analyze")
    assert r.status_code == 409
    assert r.json()["error"] == "analysis_in_progress" and r.json()["job_id"] == first["id"]
    assert len(sent) == 1


def test_bad_mpp_is_422(client: TestClient, slide: SlideRef, sent: list[tuple[int, str]]) -> None:
    r = client.post(f"/api/slides/{slide.id}/analyze", json={"mpp": -1})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    assert sent == []


def test_broker_down_still_accepts_the_job(client: TestClient, slide: SlideRef,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.celery_app

    def down(job_id: int) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(worker.celery_app, "send_analyze", down)
    r = client.post(f"/api/slides/{slide.id}/analyze")
    assert r.status_code == 202 and r.json()["state"] == "queued"  # the reaper re-sends it later


def test_other_institution_gets_404_everywhere(app_client: TestClient, users: dict[str, Person], slide: SlideRef,
                                               sent: list[tuple[int, str]]) -> None:
    login(app_client, users["path1"])
    job_id = app_client.post(f"/api/slides/{slide.id}/analyze").json()["id"]
    app_client.post("/api/auth/logout")
    login(app_client, users["other"])
    for method, url in [("POST", f"/api/slides/{slide.id}/analyze"), ("GET", f"/api/jobs/{job_id}"),
                        ("GET", f"/api/slides/{slide.id}/jobs"), ("POST", f"/api/jobs/{job_id}/cancel"),
                        ("GET", f"/api/jobs/{job_id}/events"), ("GET", f"/api/slides/{slide.id}/glomeruli")]:
        r = app_client.request(method, url)
        assert r.status_code == 404, (method, url, r.text)
        assert r.json()["error"] in ("slide_not_found", "job_not_found")
    app_client.post("/api/auth/logout")
    assert app_client.get(f"/api/jobs/{job_id}").status_code == 401


def test_cancel_a_queued_job(client: TestClient, slide: SlideRef, sent: list[tuple[int, str]]) -> None:
    job_id = client.post(f"/api/slides/{slide.id}/analyze").json()["id"]
    r = client.post(f"/api/jobs/{job_id}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert case_state(slide.case_id) == "uploaded"
    assert client.post(f"/api/jobs/{job_id}/cancel").status_code == 409
    # A late message for the cancelled job does nothing.
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.skipped
    assert client.post(f"/api/slides/{slide.id}/analyze").status_code == 202


def test_results_events_and_glomeruli_after_a_run(client: TestClient, slide: SlideRef,
                                                  sent: list[tuple[int, str]]) -> None:
    job_id = client.post(f"/api/slides/{slide.id}/analyze").json()["id"]
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded
    # Blinded first read (on by default): no AI results for a pathologist before a report is signed.
    r = client.get(f"/api/slides/{slide.id}/glomeruli")
    assert r.status_code == 403 and r.json()["error"] == "blinded_first_read"
    assert client.get(f"/api/jobs/{job_id}").json()["result"] == {"hidden": "blinded_first_read"}
    unblind(slide.case_id)
    assert client.get(f"/api/jobs/{job_id}").json()["result"]["n_glomeruli"] == fake_pipeline.N_GLOMERULI

    with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = "".join(r.iter_text())
    blocks = [b for b in body.split("\n\n") if b.startswith("event:")]
    assert [b.split("\n")[0] for b in blocks] == ["event: job", "event: end"]
    assert json.loads(blocks[0].split("data: ", 1)[1])["state"] == "succeeded"

    g = client.get(f"/api/slides/{slide.id}/glomeruli").json()
    assert g["job"]["id"] == job_id and len(g["glomeruli"]) == fake_pipeline.N_GLOMERULI
    first = g["glomeruli"][0]
    assert first["index"] == 0 and first["bbox"] == [10, 10, 60, 60] and first["status"] == "normal"
    assert first["findings"] == {"global_sclerosis": 0.1} and len(first["polygon"]) == 3
    jobs_list = client.get(f"/api/slides/{slide.id}/jobs").json()
    assert [j["id"] for j in jobs_list] == [job_id] and jobs_list[0]["progress"] == 1.0
    assert case_state(slide.case_id) == "ai_ready"


def test_glomeruli_download_as_qupath_geojson(client: TestClient, slide: SlideRef, users: dict[str, Person],
                                             sent: list[tuple[int, str]]) -> None:
    url = f"/api/slides/{slide.id}/glomeruli.geojson"
    unblind(slide.case_id)
    r = client.get(url)  # nothing analysed yet: a clear 409, not an empty file
    assert r.status_code == 409 and r.json()["error"] == "not_analysed" and "no finished AI analysis" in r.json()["detail"]
    job_id = client.post(f"/api/slides/{slide.id}/analyze").json()["id"]
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded

    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["content-disposition"] == f'attachment; filename="slide-{slide.id}-glomeruli.geojson"'
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == fake_pipeline.N_GLOMERULI
    assert fc["properties"]["glomcheck"]["job_id"] == job_id
    f = fc["features"][0]
    ring = f["geometry"]["coordinates"][0]
    assert f["geometry"]["type"] == "Polygon" and ring[0] == ring[-1] and len(ring) >= 4  # closed, as QuPath wants
    assert f["properties"]["classification"]["name"] == "Glomerulus: normal"
    assert f["properties"]["measurements"]["p_global_sclerosis"] == 0.1
    with session_scope() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "glomeruli.exported")).scalars().all()
    assert len(ev) == 1 and ev[0].object_id == str(slide.id) and ev[0].details["n_glomeruli"] == fake_pipeline.N_GLOMERULI

    # marker ink the analysis left out (as the worker stores it) follows as QuPath Ignore* annotations, hole kept
    outer = [[0.0, 0.0], [400.0, 0.0], [400.0, 400.0], [0.0, 400.0], [0.0, 0.0]]
    hole = [[100.0, 100.0], [300.0, 100.0], [300.0, 300.0], [100.0, 300.0], [100.0, 100.0]]
    with session_scope() as s:
        job = s.get(AnalysisJob, job_id)
        assert job is not None
        job.result = {**(job.result or {}), "stats": {"ink_regions_px": [[outer, hole], "not a polygon"]}}
    fc = client.get(url).json()
    ink = [f for f in fc["features"] if f["properties"]["classification"]["name"] == "Ignore*"]
    assert len(ink) == 1 and ink[0]["geometry"]["coordinates"] == [outer, hole]
    assert len(fc["features"]) == fake_pipeline.N_GLOMERULI + 1 and fc["properties"]["glomcheck"]["n_ink_regions"] == 1

    # another institution's pathologist cannot reach the slide at all
    assert login(client, users["other"]).get(url).status_code == 404


def test_glomeruli_download_respects_the_blinded_first_read(client: TestClient, slide: SlideRef,
                                                             sent: list[tuple[int, str]]) -> None:
    job_id = client.post(f"/api/slides/{slide.id}/analyze").json()["id"]
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded
    r = client.get(f"/api/slides/{slide.id}/glomeruli.geojson")
    assert r.status_code == 403 and r.json()["error"] == "blinded_first_read"
    with session_scope() as s:
        assert not s.execute(select(AuditEvent).where(AuditEvent.action == "glomeruli.exported")).scalars().all()


def test_reanalysis_never_pulls_a_signed_case_back(client: TestClient, users: dict[str, Person],
                                                    sent: list[tuple[int, str]]) -> None:
    signed = make_slide(users["path1"], case_state="report_signed")
    job_id = client.post(f"/api/slides/{signed.id}/analyze").json()["id"]
    assert case_state(signed.case_id) == "report_signed"
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded
    assert case_state(signed.case_id) == "report_signed"
