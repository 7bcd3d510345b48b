"""worker.jobs called directly (no Celery): claim, lease fencing, idempotency, reaper, errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from app.db.base import utcnow
from app.db.models import AnalysisJob, AuditEvent, Case, Glomerulus
from app.db.session import session_scope
from tests.analysis.factories import SlideRef, make_slide
from tests.conftest import DbUnderTest, Person, configure, make_user
from tests.worker import fake_pipeline
from worker import jobs


@pytest.fixture
def owner(db: DbUnderTest) -> Iterator[Person]:
    configure(None, heartbeat_interval_s="0.2", heartbeat_timeout_s="2", max_job_attempts="2",
              analysis_pipeline=None, test_stage_delay_s=None, test_fail=None)
    jobs.clear_settings_cache()
    yield make_user("w@h1.example")
    configure(None, heartbeat_interval_s=None, heartbeat_timeout_s=None, max_job_attempts=None,
              test_stage_delay_s=None, test_fail=None, analysis_pipeline=None, queued_resend_after_s=None)
    jobs.clear_settings_cache()


def queue_job(slide: SlideRef, owner: Person, **values: object) -> int:
    with session_scope() as s:
        job = AnalysisJob(slide_id=slide.id, institution_id=owner.institution_id, requested_by_id=owner.id,
                          result={"case_state_before": "uploaded"}, model_versions={}, timings_s={},
                          attempts=0, progress=0.0, cancel_requested=False, state="queued", **values)
        s.add(job)
        s.flush()
        return job.id


def job_row(job_id: int) -> AnalysisJob:
    with session_scope() as s:
        job = s.get(AnalysisJob, job_id)
        assert job is not None
        return job


def glomeruli_count(job_id: int) -> int:
    with session_scope() as s:
        return int(s.execute(select(func.count()).where(Glomerulus.job_id == job_id)).scalar_one())


def case_state(case_id: int) -> str:
    with session_scope() as s:
        return s.get(Case, case_id).state  # type: ignore[union-attr]


def actions(job_id: int) -> list[str]:
    with session_scope() as s:
        return list(s.execute(select(AuditEvent.action).where(AuditEvent.object_type == "analysis_job",
                                                              AuditEvent.object_id == str(job_id))
                              .order_by(AuditEvent.id)).scalars())


def test_tissue_only_pipeline_runs_and_records_grid(owner: Person) -> None:
    slide = make_slide(owner, case_state="analyzing")
    job_id = queue_job(slide, owner)
    assert jobs.run_job(job_id, pipeline=jobs.tissue_only_pipeline) is jobs.Outcome.succeeded
    job = job_row(job_id)
    assert job.state == "succeeded" and job.progress == 1.0 and job.attempts == 1
    assert job.result["pipeline"] == "tissue-only" and job.result["tile_count"] > 0
    assert 0 < job.result["tissue_fraction"] <= 1
    assert {"tissue", "tiles", "total"} <= set(job.timings_s)
    assert case_state(slide.case_id) == "ai_ready"
    assert actions(job_id) == ["analysis.started", "analysis.succeeded"]


def test_redelivery_is_a_no_op_and_rows_are_not_duplicated(owner: Person) -> None:
    slide = make_slide(owner)
    job_id = queue_job(slide, owner)
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded
    assert glomeruli_count(job_id) == fake_pipeline.N_GLOMERULI
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.skipped
    assert jobs.run_job(999_999, pipeline=fake_pipeline.analyze) is jobs.Outcome.skipped
    assert glomeruli_count(job_id) == fake_pipeline.N_GLOMERULI
    job = job_row(job_id)
    assert job.attempts == 1 and job.model_versions == {"fake_detector": "1"}
    assert job.result["stain"] == "pas"  # the slide's recorded stain reaches the pipeline (the ink rule needs it)
    assert job.result["models"] == [{"name": "fake_detector", "version": "1"}]


def test_overall_progress_maps_stage_fractions_and_never_goes_back() -> None:
    assert jobs.overall_progress("tissue", 1.0, 0.0) == pytest.approx(0.1)
    assert jobs.overall_progress("detection", 0.5, 0.1) == pytest.approx(0.5)
    assert jobs.overall_progress("classification", 0.0, 0.5) == pytest.approx(0.9)
    assert jobs.overall_progress("tissue", 0.0, 0.9) == pytest.approx(0.9)
    assert jobs.overall_progress("unknown-stage", 0.3, 0.42) == 0.42


def test_a_presumed_dead_worker_cannot_write_over_the_new_attempt(owner: Person) -> None:
    slide = make_slide(owner)
    job_id = queue_job(slide, owner)
    old = jobs.claim(job_id, worker_id="old")
    assert old is not None and old.attempt == 1
    # The old worker goes silent; the reaper hands the job to a new worker.
    with session_scope() as s:
        s.execute(update(AnalysisJob).values(heartbeat_at=utcnow() - timedelta(seconds=60)))
    sent: list[int] = []
    report = jobs.reap(send=sent.append)
    assert report.requeued == [job_id] and sent == [job_id]
    assert jobs.run_job(job_id, worker_id="new", pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded
    # The old worker wakes up and tries to finish: fenced out, nothing written.
    assert not jobs.finish_succeeded(old, fake_pipeline.FakeResult(glomeruli=[]), total_s=1.0)
    jobs.beat(old)
    assert old.lost.is_set()
    job = job_row(job_id)
    assert job.state == "succeeded" and job.attempts == 2 and job.worker_id == "new"
    assert glomeruli_count(job_id) == fake_pipeline.N_GLOMERULI
    assert actions(job_id) == ["analysis.started", "analysis.requeued", "analysis.started", "analysis.succeeded"]


def test_reaper_gives_up_after_max_attempts_with_a_clear_error(owner: Person) -> None:
    slide = make_slide(owner, case_state="deidentified")
    job_id = queue_job(slide, owner)
    with session_scope() as s:
        s.get(AnalysisJob, job_id).result = {"case_state_before": "deidentified"}  # type: ignore[union-attr]
        s.get(Case, slide.case_id).state = "analyzing"  # type: ignore[union-attr]
    for attempt in (1, 2):
        assert jobs.claim(job_id, worker_id=f"w{attempt}") is not None
        with session_scope() as s:
            s.execute(update(AnalysisJob).values(heartbeat_at=utcnow() - timedelta(seconds=60)))
        report = jobs.reap(send=lambda _: None)
    assert report.failed == [job_id]
    job = job_row(job_id)
    assert job.state == "failed" and "stopped responding" in (job.error or "") and "attempt 2 of 2" in job.error
    assert case_state(slide.case_id) == "deidentified"  # back to where it was: nothing succeeded


def test_reaper_leaves_live_jobs_alone_and_resends_forgotten_queued_ones(owner: Person) -> None:
    configure(None, queued_resend_after_s="5")
    jobs.clear_settings_cache()
    live = queue_job(make_slide(owner), owner)
    assert jobs.claim(live, worker_id="alive") is not None
    fresh = queue_job(make_slide(owner), owner)
    forgotten = queue_job(make_slide(owner), owner)
    with session_scope() as s:
        s.execute(update(AnalysisJob).where(AnalysisJob.id == forgotten)
                  .values(created_at=utcnow() - timedelta(seconds=30)))
    sent: list[int] = []
    report = jobs.reap(send=sent.append)
    assert sent == [forgotten] and report.resent == [forgotten] and not report.requeued
    assert job_row(live).state == "running" and job_row(fresh).state == "queued"
    # Re-sent once per period, not on every pass.
    assert jobs.reap(send=sent.append).resent == []


def test_reaper_cancels_a_dead_job_whose_user_asked_to_cancel(owner: Person) -> None:
    job_id = queue_job(make_slide(owner), owner)
    assert jobs.claim(job_id, worker_id="w") is not None
    with session_scope() as s:
        s.execute(update(AnalysisJob).values(cancel_requested=True, heartbeat_at=utcnow() - timedelta(seconds=60)))
    sent: list[int] = []
    assert jobs.reap(send=sent.append).cancelled == [job_id] and sent == []
    assert job_row(job_id).state == "cancelled"


def test_cancel_request_reaches_a_running_pipeline(owner: Person) -> None:
    configure(None, test_stage_delay_s="2")
    slide = make_slide(owner, case_state="analyzing")
    job_id = queue_job(slide, owner)

    def cancel_soon() -> None:
        threading.Event().wait(0.5)
        with session_scope() as s:
            s.execute(update(AnalysisJob).where(AnalysisJob.id == job_id).values(cancel_requested=True))

    threading.Thread(target=cancel_soon).start()
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.cancelled
    job = job_row(job_id)
    assert job.state == "cancelled" and glomeruli_count(job_id) == 0
    assert case_state(slide.case_id) == "uploaded"


def test_pipeline_error_fails_the_job_with_its_message(owner: Person) -> None:
    configure(None, test_fail="1")
    slide = make_slide(owner, case_state="analyzing")
    job_id = queue_job(slide, owner)
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.failed
    job = job_row(job_id)
    assert job.state == "failed" and job.error == "fake pipeline failure"
    assert case_state(slide.case_id) == "uploaded"


def test_transient_error_puts_the_job_back_in_the_queue(owner: Person) -> None:
    job_id = queue_job(make_slide(owner), owner)

    def flaky(*_: object, **__: object) -> fake_pipeline.FakeResult:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    with pytest.raises(jobs.TransientJobError):
        jobs.run_job(job_id, pipeline=flaky)  # type: ignore[arg-type]
    job = job_row(job_id)
    assert job.state == "queued" and job.attempts == 1 and "OperationalError" in (job.error or "")
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded
    assert job_row(job_id).attempts == 2
    # Out of attempts (max 2): a transient error now fails the job instead of looping forever.
    job2 = queue_job(make_slide(owner), owner)
    with session_scope() as s:
        s.execute(update(AnalysisJob).where(AnalysisJob.id == job2).values(attempts=1))
    assert jobs.run_job(job2, pipeline=flaky) is jobs.Outcome.failed  # type: ignore[arg-type]
    assert "Gave up after 2 attempts" in (job_row(job2).error or "")


def test_pipeline_seam_prefers_configured_plugin(owner: Person) -> None:
    configure(None, analysis_pipeline="tests.worker.fake_pipeline:analyze")
    jobs.clear_settings_cache()
    assert jobs.resolve_pipeline() is fake_pipeline.analyze
    configure(None, analysis_pipeline=None)
    jobs.clear_settings_cache()
    assert jobs.resolve_pipeline() is not fake_pipeline.analyze


def test_a_job_past_its_time_limit_fails_with_a_clear_error(owner: Person) -> None:
    configure(None, test_stage_delay_s="5", job_time_limit_s="0.3")
    try:
        slide = make_slide(owner, case_state="analyzing")
        job_id = queue_job(slide, owner)
        t0 = time.monotonic()
        assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.failed
        assert time.monotonic() - t0 < 4  # stopped at the next check, not after the 15 s of stages
        job = job_row(job_id)
        assert job.state == "failed" and "time limit of 0.3 s" in (job.error or "")
        assert glomeruli_count(job_id) == 0
        assert case_state(slide.case_id) == "uploaded"
    finally:
        configure(None, job_time_limit_s=None)


def test_heartbeat_stops_vouching_after_the_deadline(owner: Person) -> None:
    """A worker stuck in a C call past the limit goes silent, so the reaper re-queues the job."""
    job_id = queue_job(make_slide(owner), owner)
    lease = jobs.claim(job_id, worker_id="stuck")
    assert lease is not None
    hb = jobs.Heartbeat(lease, 0.05, until=time.monotonic() + 0.2)
    hb.start()
    hb.join(2)
    assert not hb.is_alive()


def test_pipeline_stats_reach_the_job_result(owner: Person) -> None:
    """The focus reference and `slide_blurred` are slide facts the viewer shows (a rescan warning)."""
    slide = make_slide(owner)
    job_id = queue_job(slide, owner)
    lease = jobs.claim(job_id, worker_id="w")
    assert lease is not None
    res = fake_pipeline.FakeResult(glomeruli=[])
    res.stats = {"focus_version": "1.0.0", "focus_reference": 0.41, "slide_blurred": True}  # type: ignore[attr-defined]
    assert jobs.finish_succeeded(lease, res, total_s=1.0)
    job = job_row(job_id)
    assert job.state == "succeeded"
    assert job.result["stats"] == {"focus_version": "1.0.0", "focus_reference": 0.41, "slide_blurred": True}
