"""At most one active analysis job per slide: the partial unique index (migration 0005) and the 409."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from app.analysis import service
from app.db.models import AnalysisJob, User
from app.db.session import get_engine, session_scope
from app.errors import Conflict
from tests.analysis.factories import SlideRef, make_slide
from tests.conftest import DbUnderTest, Person, login


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.celery_app

    monkeypatch.setattr(worker.celery_app, "send_analyze", lambda job_id: None)


@pytest.fixture
def slide(users: dict[str, Person]) -> SlideRef:
    return make_slide(users["path1"])


def _job(slide: SlideRef, owner: Person, state: str) -> AnalysisJob:
    return AnalysisJob(slide_id=slide.id, institution_id=owner.institution_id, state=state, progress=0.0,
                       model_versions={}, timings_s={}, result={}, attempts=0, cancel_requested=False)


def test_index_exists_and_only_constrains_active_jobs(db: DbUnderTest, users: dict[str, Person],
                                                      slide: SlideRef) -> None:
    indexes = {ix["name"]: ix for ix in inspect(get_engine()).get_indexes("analysis_jobs")}
    assert indexes["ix_analysis_jobs_one_active_per_slide"]["unique"]
    owner = users["path1"]
    with session_scope() as s:
        s.add_all([_job(slide, owner, "succeeded"), _job(slide, owner, "failed"), _job(slide, owner, "queued")])
    with pytest.raises(IntegrityError), session_scope() as s:
        s.add(_job(slide, owner, "running"))
    with session_scope() as s:
        s.add(_job(slide, owner, "cancelled"))


def test_lost_race_becomes_the_same_409(db: DbUnderTest, users: dict[str, Person], slide: SlideRef,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The pre-check missed a concurrent job: the index rejects the insert, the caller gets 409."""
    with session_scope() as s:
        winner = _job(slide, users["path1"], "queued")
        s.add(winner)
        s.flush()
        winner_id = winner.id
    real = service.active_job_id
    calls: list[int] = []

    def stale_first(session: object, *, slide_id: int) -> int | None:
        calls.append(slide_id)
        return None if len(calls) == 1 else real(session, slide_id=slide_id)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "active_job_id", stale_first)
    with session_scope() as s:
        user = s.get(User, users["path1"].id)
        assert user is not None
        with pytest.raises(Conflict) as exc:
            service.request_analysis(s, user=user, slide_id=slide.id, mpp=None)
    assert exc.value.code == "analysis_in_progress" and exc.value.extra == {"job_id": winner_id}
    assert len(calls) == 2


def test_two_concurrent_requests_one_202_one_409(app_client: TestClient, users: dict[str, Person],
                                                 slide: SlideRef) -> None:
    login(app_client, users["path1"])
    barrier = threading.Barrier(2)
    results: list[tuple[int, dict[str, object]]] = []

    def post() -> None:
        barrier.wait()
        r = app_client.post(f"/api/slides/{slide.id}/analyze")
        results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(code for code, _ in results) == [202, 409], results
    created = next(body for code, body in results if code == 202)
    refused = next(body for code, body in results if code == 409)
    assert refused["error"] == "analysis_in_progress" and refused["job_id"] == created["id"]
    with session_scope() as s:
        assert s.query(AnalysisJob).filter(AnalysisJob.slide_id == slide.id).count() == 1

