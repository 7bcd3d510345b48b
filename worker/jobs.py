"""Running analysis jobs with the database row as the source of truth; importable without Celery.

A job row moves `queued → running → succeeded | failed | cancelled`. A worker *claims* a queued row
atomically and holds a lease on it, identified by `(worker_id, attempts)`. Every later write of that
worker (heartbeat, progress, results) is conditional on the lease, so a worker that was presumed dead
and comes back can never write over a newer attempt: results land exactly once.

The reaper turns silent leases back into queued jobs and re-sends their message, because brokers lose
messages: kombu's SQLAlchemy transport hides a delivered message and forgets it if the worker dies
before the ack; Redis only re-delivers after its visibility timeout.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from app.analysis import service as analysis_service
from app.audit.service import record
from app.config import get_settings
from app.db.base import utcnow
from app.db.models import AnalysisJob, Glomerulus, JobState, Slide
from app.db.session import session_scope
from app.slides.reader import SlideReader

log = logging.getLogger(__name__)


def clear_settings_cache() -> None:
    """Re-read settings (worker knobs live in `app.config.Settings`) after the environment changed."""
    get_settings.cache_clear()


# --------------------------------------------------------------------------------------------
# Errors and outcomes


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, ConnectionError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying: the database or broker was briefly unreachable or locked."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


class TransientJobError(Exception):
    """The job was put back in the queue after a transient error; the task should retry later."""


class Outcome(StrEnum):
    skipped = "skipped"  # not queued (already running elsewhere, finished, or gone): a duplicate message
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    lost = "lost"  # our lease was taken over (we were presumed dead); nothing written


class JobCancelled(Exception):
    """Raised by a pipeline (or us) to stop work because the user cancelled."""


# --------------------------------------------------------------------------------------------
# Pipeline seam


class PipelineResultLike(Protocol):
    """What `worker.pipeline.run.PipelineResult` offers: glomeruli dicts (polygon_px, bbox_px, score,
    findings, status, flags, area_um2), timings per stage, and the models used (list of cards or a
    name → version dict). Optional: `slide` (facts about the slide), `stats`, `summary`."""

    glomeruli: list[dict[str, Any]]
    timings_s: dict[str, float]

    @property
    def models(self) -> Any: ...


ProgressFn = Callable[[str, float], None]
CancelFn = Callable[[], bool]


class Pipeline(Protocol):
    """`stain` is the slide's recorded stain (pas, pam, mt, he), which the marker-ink rule depends on."""

    def __call__(self, reader: SlideReader, *, mpp_override: float | None = None, progress: ProgressFn,
                 should_cancel: CancelFn, stain: str | None = None) -> PipelineResultLike: ...


@dataclass
class TissueOnlyResult:
    """What the pipeline returns before detection models exist: no glomeruli, tissue and grid stats."""

    glomeruli: list[dict[str, Any]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


GRID_TILE_UM = 256.0  # tile edge in µm for the tissue-only grid (the detector's future field of view)
GRID_OVERLAP = 0.125


def tissue_only_pipeline(reader: SlideReader, *, mpp_override: float | None = None, progress: ProgressFn,
                         should_cancel: CancelFn, stain: str | None = None) -> TissueOnlyResult:
    """Tissue mask and tile grid only (issue 2): proves the plumbing end to end without models.

    Args:
        reader: the open slide.
        mpp_override: level-0 µm/px supplied by the user when the file does not state it.
        progress: `progress(stage, fraction_of_stage)`.
        should_cancel: polled between stages; True stops the run with `JobCancelled`.
    """
    from worker.pipeline.tissue import compute_tissue_mask, tile_grid

    timings: dict[str, float] = {}
    progress("tissue", 0.0)
    t = time.perf_counter()
    mask = compute_tissue_mask(reader, mpp0=mpp_override)
    timings["tissue"] = time.perf_counter() - t
    progress("tissue", 1.0)
    if should_cancel():
        raise JobCancelled()
    progress("tiles", 0.0)
    t = time.perf_counter()
    mpp0 = mpp_override or (reader.mpp or (None, None))[0] or 0.5
    tile_px0 = max(64, round(GRID_TILE_UM / mpp0))
    tiles = tile_grid(mask, slide_size=reader.dimensions, tile_px0=tile_px0,
                      stride_px0=max(1, round(tile_px0 * (1 - GRID_OVERLAP))))
    timings["tiles"] = time.perf_counter() - t
    progress("tiles", 1.0)
    return TissueOnlyResult(
        timings_s=timings,
        summary={"tissue_fraction": round(mask.fraction, 4), "tile_count": len(tiles), "tile_px0": tile_px0,
                 "mpp0": mpp0, "pipeline": "tissue-only"},
    )


def resolve_pipeline() -> Pipeline:
    """The one place choosing the pipeline: a configured plugin, else the model pipeline if installed,
    else tissue mask + tile grid."""
    name = get_settings().analysis_pipeline
    if name:
        module, _, attr = name.partition(":")
        fn: Pipeline = getattr(importlib.import_module(module), attr)
        return fn
    try:
        from worker.pipeline.run import analyze_slide_file  # type: ignore[import-not-found,unused-ignore]
    except ModuleNotFoundError as exc:
        if exc.name != "worker.pipeline.run":
            raise
        return tissue_only_pipeline
    model_pipeline: Pipeline = analyze_slide_file
    return model_pipeline


# --------------------------------------------------------------------------------------------
# Lease: claim, heartbeat, progress


def default_worker_id() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


@dataclass
class Lease:
    """A worker's hold on one job attempt; every write is fenced on (job_id, worker_id, attempt)."""

    job_id: int
    worker_id: str | None  # None only for rows a reaper inspects (a running row always has one)
    attempt: int
    cancel: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)

    def fence(self) -> Any:
        return (
            (AnalysisJob.id == self.job_id)
            & (AnalysisJob.worker_id == self.worker_id)
            & (AnalysisJob.attempts == self.attempt)
            & (AnalysisJob.state == JobState.running.value)
        )

    @property
    def should_stop(self) -> bool:
        return self.cancel.is_set() or self.lost.is_set()


def claim(job_id: int, *, worker_id: str, task_id: str | None = None) -> Lease | None:
    """queued → running in one conditional UPDATE; None if the job is not (or no longer) queued."""
    now = utcnow()
    with session_scope() as session:
        res = session.execute(
            update(AnalysisJob)
            .where(AnalysisJob.id == job_id, AnalysisJob.state == JobState.queued.value,
                   AnalysisJob.cancel_requested.is_(False))
            .values(state=JobState.running.value, attempts=AnalysisJob.attempts + 1, worker_id=worker_id,
                    heartbeat_at=now, started_at=now, celery_task_id=task_id, stage="starting", progress=0.0,
                    error=None)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return None
        job = session.execute(select(AnalysisJob).where(AnalysisJob.id == job_id)).scalar_one()
        record(session, "analysis.started", institution_id=job.institution_id, object_type="analysis_job",
               object_id=job.id, details={"attempt": job.attempts, "worker": worker_id, "slide_id": job.slide_id})
        return Lease(job_id, worker_id, job.attempts)


def beat(lease: Lease) -> None:
    """Refresh the heartbeat and pick up a cancel request; a lost lease sets `lease.lost`."""
    with session_scope() as session:
        res = session.execute(
            update(AnalysisJob).where(lease.fence()).values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            lease.lost.set()
            return
        if session.execute(select(AnalysisJob.cancel_requested).where(AnalysisJob.id == lease.job_id)).scalar():
            lease.cancel.set()


class Heartbeat(threading.Thread):
    """Beats every `interval` seconds while the job runs, so the reaper knows this worker is alive."""

    def __init__(self, lease: Lease, interval: float, *, until: float | None = None) -> None:
        super().__init__(name=f"heartbeat-job-{lease.job_id}", daemon=True)
        self.lease = lease
        self.interval = interval
        self.until = until  # time.monotonic() after which we stop vouching for this job
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            if self.until is not None and time.monotonic() > self.until:
                log.error("job %s is past its time limit and did not stop; leaving it to the reaper", self.lease.job_id)
                return
            try:
                beat(self.lease)
            except Exception:  # a missed beat is survivable; many missed beats mean the reaper takes over
                log.warning("heartbeat for job %s failed", self.lease.job_id, exc_info=True)
            if self.lease.lost.is_set():
                return

    def stop(self) -> None:
        self._stop_event.set()


# Pipelines report (stage, fraction of that stage); the row shows overall progress across stages.
STAGE_SPANS: dict[str, tuple[float, float]] = {
    "tissue": (0.0, 0.1),
    "tiles": (0.1, 1.0),  # tissue-only pipeline
    "detection": (0.1, 0.9),
    "classification": (0.9, 1.0),
}


def overall_progress(stage: str, fraction: float, previous: float) -> float:
    """Map a stage fraction to the job's overall fraction; never goes backwards; unknown stages hold."""
    span = STAGE_SPANS.get(stage)
    if span is None:
        return previous
    lo, hi = span
    return max(previous, lo + (hi - lo) * min(max(float(fraction), 0.0), 1.0))


class ProgressWriter:
    """The pipeline's progress callback: writes stage/progress to the row, throttled, fenced."""

    def __init__(self, lease: Lease, min_interval_s: float) -> None:
        self.lease = lease
        self.min_interval_s = min_interval_s
        self._last_write = 0.0
        self._last_stage: str | None = None
        self.overall = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        self.overall = overall_progress(stage, fraction, self.overall)
        now = time.monotonic()
        if stage == self._last_stage and now - self._last_write < self.min_interval_s:
            return
        self._last_stage, self._last_write = stage, now
        with session_scope() as session:
            res = session.execute(
                update(AnalysisJob).where(self.lease.fence())
                .values(stage=stage[:32], progress=self.overall)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                self.lease.lost.set()


# --------------------------------------------------------------------------------------------
# Finishing


def _finish(session: Session, lease: Lease, **values: Any) -> AnalysisJob | None:
    """Fenced final UPDATE (first statement of the transaction, so SQLite takes its write lock now)."""
    res = session.execute(
        update(AnalysisJob).where(lease.fence())
        .values(finished_at=utcnow(), heartbeat_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        lease.lost.set()
        return None
    return session.execute(select(AnalysisJob).where(AnalysisJob.id == lease.job_id)).scalar_one()


def _glomerulus_row(job: AnalysisJob, index: int, g: dict[str, Any]) -> Glomerulus:
    x0, y0, x1, y1 = (int(v) for v in g["bbox_px"])
    return Glomerulus(
        job_id=job.id, slide_id=job.slide_id, index=index,
        polygon=[[float(x), float(y)] for x, y in g["polygon_px"]],
        bbox_x0=x0, bbox_y0=y0, bbox_x1=x1, bbox_y1=y1,
        area_um2=None if g.get("area_um2") is None else float(g["area_um2"]),
        detection_score=float(g["score"]),
        findings={str(k): float(v) for k, v in (g.get("findings") or {}).items()},
        status=str(g.get("status") or "indeterminate"),
        flags=[str(f) for f in (g.get("flags") or [])],
    )


def _model_versions(models: Any) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """{name: version} for the job row, plus the full model records (sha256, providers) if given."""
    if isinstance(models, dict):
        return {str(k): str(v) for k, v in models.items()}, []
    cards = [dict(m) for m in models or []]
    return {str(m.get("name")): str(m.get("version")) for m in cards}, json_safe(cards)


def json_safe(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))


def finish_succeeded(lease: Lease, result: PipelineResultLike, *, total_s: float) -> bool:
    """Results replace any earlier rows of this job in one transaction, so re-delivery never duplicates."""
    with session_scope() as session:
        glomeruli = list(result.glomeruli)
        summary = dict(getattr(result, "summary", {}) or {})
        summary["n_glomeruli"] = len(glomeruli)
        if isinstance(getattr(result, "slide", None), dict):
            summary["slide"] = result.slide  # type: ignore[attr-defined]
        if isinstance(getattr(result, "stats", None), dict):
            # tiles, resolutions, the focus reference and `slide_blurred` (the viewer warns: rescan)
            summary["stats"] = result.stats  # type: ignore[attr-defined]
        versions, model_cards = _model_versions(result.models)
        if model_cards:
            summary["models"] = model_cards
        prior = session.execute(select(AnalysisJob.result).where(AnalysisJob.id == lease.job_id)).scalar() or {}
        if "case_state_before" in prior:
            summary["case_state_before"] = prior["case_state_before"]
        timings = {k: round(float(v), 4) for k, v in dict(result.timings_s).items()}
        timings["total"] = round(total_s, 4)
        job = _finish(session, lease, state=JobState.succeeded.value, stage="done", progress=1.0, error=None,
                      timings_s=timings, model_versions=versions, result=json_safe(summary))
        if job is None:
            return False
        session.execute(delete(Glomerulus).where(Glomerulus.job_id == job.id))
        session.add_all(_glomerulus_row(job, i, g) for i, g in enumerate(glomeruli))
        session.flush()
        record(session, "analysis.succeeded", institution_id=job.institution_id, object_type="analysis_job",
               object_id=job.id, details={"slide_id": job.slide_id, "attempt": job.attempts,
                                          "n_glomeruli": len(glomeruli), "models": job.model_versions})
        analysis_service.settle_case(session, job)
        _assess_when_case_settled(session, job)
    return True


def _assess_when_case_settled(session: Session, job: AnalysisJob) -> None:
    """Once no analysis of the case is active, recompute its assessment (and re-compare a signed report)
    in the same transaction as the results, so the case never shows results without an assessment."""
    from app.discrepancies.service import on_ai_results

    case_id = session.execute(select(Slide.case_id).where(Slide.id == job.slide_id)).scalar_one()
    active = session.execute(
        select(func.count()).select_from(AnalysisJob).join(Slide, Slide.id == AnalysisJob.slide_id)
        .where(Slide.case_id == case_id, AnalysisJob.state.in_(analysis_service.ACTIVE))
    ).scalar_one()
    if not active:
        on_ai_results(session, case_id=case_id)


def finish_failed(lease: Lease, error: str, *, state: JobState = JobState.failed) -> bool:
    with session_scope() as session:
        job = _finish(session, lease, state=state.value, error=error if state is JobState.failed else None)
        if job is None:
            return False
        record(session, f"analysis.{state.value}", institution_id=job.institution_id, object_type="analysis_job",
               object_id=job.id, details={"slide_id": job.slide_id, "attempt": job.attempts, "error": error})
        analysis_service.settle_case(session, job)
    return True


def release_for_retry(lease: Lease, reason: str) -> bool:
    """Put the job back in the queue after a transient error (or fail it once attempts are used up)."""
    max_attempts = get_settings().max_job_attempts
    with session_scope() as session:
        if lease.attempt >= max_attempts:
            job = _finish(session, lease, state=JobState.failed.value,
                          error=f"Gave up after {lease.attempt} attempts; last error: {reason}")
            if job is not None:
                record(session, "analysis.failed", institution_id=job.institution_id, object_type="analysis_job",
                       object_id=job.id, details={"attempt": job.attempts, "error": job.error})
                analysis_service.settle_case(session, job)
            return False
        res = session.execute(
            update(AnalysisJob).where(lease.fence())
            .values(state=JobState.queued.value, worker_id=None, heartbeat_at=utcnow(), stage="retrying",
                    error=reason[:2000])
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1  # type: ignore[attr-defined,no-any-return]


# --------------------------------------------------------------------------------------------
# Running a job


@dataclass(frozen=True)
class SlideTarget:
    path: Path
    reader_options: dict[str, Any]
    mpp_override: float | None
    stain: str | None = None


def _load_target(job_id: int) -> SlideTarget:
    with session_scope() as session:
        row = session.execute(
            select(Slide.open_path, Slide.reader_options, AnalysisJob.mpp_override, Slide.stain)
            .join(AnalysisJob, AnalysisJob.slide_id == Slide.id).where(AnalysisJob.id == job_id)
        ).one()
    return SlideTarget(get_settings().storage / row[0], dict(row[1] or {}), row[2], row[3])


TIME_LIMIT_GRACE_S = 60.0


def _time_limit_message(limit: float) -> str:
    return (f"The analysis ran longer than the time limit of {limit:g} s and was stopped; raise "
            "GLOMCHECK_JOB_TIME_LIMIT_S for very large slides, or check the worker's hardware.")


def run_job(job_id: int, *, worker_id: str | None = None, task_id: str | None = None,
            pipeline: Pipeline | None = None) -> Outcome:
    """Claim, run and finish one job. Idempotent: a duplicate message for a non-queued job is a no-op.

    Raises:
        TransientJobError: a transient error put the job back in the queue; retry the message later.
    """
    settings = get_settings()
    worker_id = worker_id or default_worker_id()
    lease = claim(job_id, worker_id=worker_id, task_id=task_id)
    if lease is None:
        log.info("job %s is not queued; nothing to do", job_id)
        return Outcome.skipped
    limit = settings.job_time_limit_s
    deadline = time.monotonic() + limit
    heartbeat = Heartbeat(lease, settings.heartbeat_interval_s, until=deadline + TIME_LIMIT_GRACE_S)
    heartbeat.start()
    started = time.perf_counter()
    timed_out = threading.Event()

    def should_cancel() -> bool:
        if time.monotonic() > deadline:
            timed_out.set()
        return lease.should_stop or timed_out.is_set()

    try:
        target = _load_target(job_id)
        progress = ProgressWriter(lease, get_settings().progress_write_interval_s)
        run = pipeline or resolve_pipeline()
        with SlideReader(target.path, options=target.reader_options) as reader:
            result = run(reader, mpp_override=target.mpp_override, progress=progress, should_cancel=should_cancel,
                         stain=target.stain)
        if lease.lost.is_set():
            return Outcome.lost
        if timed_out.is_set() and not lease.cancel.is_set():
            return Outcome.failed if finish_failed(lease, _time_limit_message(limit)) else Outcome.lost
        if lease.cancel.is_set():
            return Outcome.cancelled if finish_failed(lease, "", state=JobState.cancelled) else Outcome.lost
        ok = finish_succeeded(lease, result, total_s=time.perf_counter() - started)
        return Outcome.succeeded if ok else Outcome.lost
    except BaseException as exc:
        if lease.lost.is_set():
            return Outcome.lost
        if timed_out.is_set() and not lease.cancel.is_set():
            return Outcome.failed if finish_failed(lease, _time_limit_message(limit)) else Outcome.lost
        if isinstance(exc, JobCancelled) or lease.cancel.is_set():
            return Outcome.cancelled if finish_failed(lease, "", state=JobState.cancelled) else Outcome.lost
        if is_transient(exc):
            log.warning("job %s hit a transient error; re-queueing", job_id, exc_info=True)
            try:
                requeued = release_for_retry(lease, f"{type(exc).__name__}: {exc}")
            except Exception:  # the database itself is down: the reaper re-queues once the lease goes stale
                log.warning("could not release job %s; the reaper will re-queue it", job_id, exc_info=True)
                requeued = True
            if requeued:
                raise TransientJobError(str(exc)) from exc
            return Outcome.failed
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt / SystemExit: leave the lease to the reaper
        log.exception("job %s failed", job_id)
        message = str(exc) or type(exc).__name__
        return Outcome.failed if finish_failed(lease, message) else Outcome.lost
    finally:
        heartbeat.stop()


# --------------------------------------------------------------------------------------------
# Reaper


@dataclass
class ReapReport:
    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)


def reap(*, send: Callable[[int], None], now: datetime | None = None) -> ReapReport:
    """Re-queue running jobs with a stale heartbeat and re-send queued jobs nobody picked up.

    Safe to run in every worker at once: each change is a conditional UPDATE, so one reaper wins.
    A running job out of attempts fails with a clear error; one whose user asked to cancel is cancelled.
    Messages are sent only after the change commits.
    """
    settings = get_settings()
    now = now or utcnow()
    stale_before = now - timedelta(seconds=settings.heartbeat_timeout_s)
    resend_before = now - timedelta(seconds=get_settings().queued_resend_after_s)
    report = ReapReport()

    with session_scope() as session:
        stale = session.execute(
            select(AnalysisJob.id, AnalysisJob.worker_id, AnalysisJob.attempts, AnalysisJob.cancel_requested)
            .where(AnalysisJob.state == JobState.running.value,
                   or_(AnalysisJob.heartbeat_at.is_(None), AnalysisJob.heartbeat_at < stale_before))
        ).all()
        unpicked = session.execute(
            select(AnalysisJob.id).where(
                AnalysisJob.state == JobState.queued.value,
                func.coalesce(AnalysisJob.heartbeat_at, AnalysisJob.created_at) < resend_before)
        ).scalars().all()

    for job_id, worker_id, attempts, cancel_requested in stale:
        lease = Lease(job_id, worker_id, attempts)
        silent = or_(AnalysisJob.heartbeat_at.is_(None), AnalysisJob.heartbeat_at < stale_before)
        with session_scope() as session:
            if cancel_requested:
                values: dict[str, Any] = {"state": JobState.cancelled.value, "finished_at": now}
                bucket, action = report.cancelled, "analysis.cancelled"
            elif attempts >= settings.max_job_attempts:
                values = {"state": JobState.failed.value, "finished_at": now, "error": (
                    f"The worker running this job stopped responding (no heartbeat for "
                    f"{settings.heartbeat_timeout_s:g} s) on attempt {attempts} of {settings.max_job_attempts}; "
                    "giving up. The slide may be crashing the worker (e.g. out of memory).")}
                bucket, action = report.failed, "analysis.failed"
            else:
                # heartbeat_at on a queued row = when its message was last sent (see `unpicked`).
                values = {"state": JobState.queued.value, "worker_id": None, "heartbeat_at": now,
                          "stage": "requeued"}
                bucket, action = report.requeued, "analysis.requeued"
            res = session.execute(
                update(AnalysisJob).where(lease.fence(), silent).values(**values)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another reaper won, or the worker beat just in time
            job = session.execute(select(AnalysisJob).where(AnalysisJob.id == job_id)).scalar_one()
            record(session, action, institution_id=job.institution_id, object_type="analysis_job", object_id=job_id,
                   details={"reason": "heartbeat_timeout", "dead_worker": worker_id, "attempt": attempts,
                            "error": job.error})
            if job.state != JobState.queued.value:
                analysis_service.settle_case(session, job)
        bucket.append(job_id)
        if bucket is report.requeued:
            _safe_send(send, job_id)

    for job_id in unpicked:
        with session_scope() as session:
            res = session.execute(
                update(AnalysisJob)
                .where(AnalysisJob.id == job_id, AnalysisJob.state == JobState.queued.value,
                       func.coalesce(AnalysisJob.heartbeat_at, AnalysisJob.created_at) < resend_before)
                .values(heartbeat_at=now).execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                continue
        report.resent.append(job_id)
        _safe_send(send, job_id)
    if report.requeued or report.failed or report.cancelled or report.resent:
        log.warning("reaper: %s", report)
    return report


def _safe_send(send: Callable[[int], None], job_id: int) -> None:
    try:
        send(job_id)
    except Exception:  # the row stays queued; the next pass re-sends it after queued_resend_after_s
        log.warning("could not send job %s to the broker", job_id, exc_info=True)


class Reaper(threading.Thread):
    """Runs `reap` at start and then periodically, in every worker process that consumes jobs."""

    def __init__(self, send: Callable[[int], None], interval_s: float | None = None,
                 housekeeping: Callable[[], object] | None = None) -> None:
        super().__init__(name="glomcheck-reaper", daemon=True)
        self.send = send
        self.housekeeping = housekeeping
        self.interval_s = interval_s or get_settings().reaper_interval_s or max(
            0.5, get_settings().heartbeat_timeout_s / 3)
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            try:
                reap(send=self.send)
                if self.housekeeping is not None:
                    self.housekeeping()
            except Exception:
                log.warning("reaper pass failed", exc_info=True)
            if self._stop_event.wait(self.interval_s):
                return

    def stop(self) -> None:
        self._stop_event.set()
