"""Analysis jobs from the API side: request, read, cancel, stream, and the case states they drive.

Services only flush; the request (or the worker's `session_scope`) owns the transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.analysis.schemas import GlomerulusOut, JobOut, SlideGlomeruliOut
from app.audit.service import record
from app.cases.state import set_case_state as move_case
from app.db.base import utcnow
from app.db.models import AnalysisJob, Case, CaseState, Glomerulus, JobState, Slide, SlideStatus, User
from app.db.session import session_scope
from app.errors import Conflict, NotFound
from app.reports.service import ai_visible, ensure_ai_visible
from app.research.geojson import feature_collection, ink_features

log = logging.getLogger(__name__)

ACTIVE = (JobState.queued.value, JobState.running.value)
FINISHED = (JobState.succeeded.value, JobState.failed.value, JobState.cancelled.value)
# A new analysis moves a case into `analyzing` only from these states; later states (a signed
# report and beyond) are never pulled back by a re-analysis.
ANALYZABLE_CASE_STATES = (CaseState.uploaded.value, CaseState.deidentified.value, CaseState.ai_ready.value)


def _locked(session: Session, stmt: Any) -> Any:
    # Row locks on PostgreSQL; SQLite serialises writers anyway.
    return stmt.with_for_update() if session.get_bind().dialect.name == "postgresql" else stmt


def get_slide(session: Session, *, user: User, slide_id: int, lock: bool = False) -> Slide:
    """The slide if it belongs to the user's institution; 404 otherwise (no existence leak)."""
    stmt = select(Slide).where(Slide.id == slide_id, Slide.institution_id == user.institution_id)
    slide: Slide | None = session.execute(_locked(session, stmt) if lock else stmt).scalar_one_or_none()
    if slide is None:
        raise NotFound(f"Slide {slide_id} not found.", code="slide_not_found")
    return slide


def get_job(session: Session, *, user: User, job_id: int) -> AnalysisJob:
    job = session.execute(
        select(AnalysisJob).where(AnalysisJob.id == job_id, AnalysisJob.institution_id == user.institution_id)
    ).scalar_one_or_none()
    if job is None:
        raise NotFound(f"Analysis job {job_id} not found.", code="job_not_found")
    return job


def set_case_state(session: Session, case: Case, new: str, *, actor_user_id: int | None, reason: str) -> None:
    """Every case transition is an audit event (DOMAIN.md §1); see `app.cases.state`."""
    move_case(session, case, new, actor_user_id=actor_user_id, reason=reason)


def active_job_id(session: Session, *, slide_id: int) -> int | None:
    """The slide's queued or running job, if any (the index allows at most one)."""
    job_id: int | None = session.execute(
        select(AnalysisJob.id).where(AnalysisJob.slide_id == slide_id, AnalysisJob.state.in_(ACTIVE))
    ).scalar()
    return job_id


def _in_progress(slide_id: int, job_id: int) -> Conflict:
    return Conflict(f"Slide {slide_id} already has an analysis in progress (job {job_id}).",
                    code="analysis_in_progress", extra={"job_id": job_id})


def request_analysis(session: Session, *, user: User, slide_id: int, mpp: float | None) -> AnalysisJob:
    """Create a queued job (the caller sends the task after commit); 409 if one is already active."""
    slide = get_slide(session, user=user, slide_id=slide_id, lock=True)
    if slide.status != SlideStatus.ready.value:
        raise Conflict(f"Slide {slide_id} is not ready for analysis (status {slide.status}).",
                       code="slide_not_ready")
    active = active_job_id(session, slide_id=slide.id)
    if active is not None:
        raise _in_progress(slide_id, active)
    case = session.execute(_locked(session, select(Case).where(Case.id == slide.case_id))).scalar_one()
    job = AnalysisJob(slide_id=slide.id, institution_id=slide.institution_id, requested_by_id=user.id,
                      state=JobState.queued.value, progress=0.0, mpp_override=mpp,
                      result={"case_state_before": case.state}, model_versions={}, timings_s={}, attempts=0,
                      cancel_requested=False)
    try:
        # The partial unique index (one active job per slide) settles a race the check above lost.
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:
        active = active_job_id(session, slide_id=slide.id)
        if active is None:
            raise
        raise _in_progress(slide_id, active) from None
    record(session, "analysis.requested", institution_id=job.institution_id, actor_user_id=user.id,
           object_type="analysis_job", object_id=job.id,
           details={"slide_id": slide.id, "case_id": case.id, "mpp_override": mpp})
    if case.state in ANALYZABLE_CASE_STATES:
        set_case_state(session, case, CaseState.analyzing.value, actor_user_id=user.id,
                       reason=f"analysis job {job.id} requested")
    return job


def enqueue(job_id: int) -> None:
    """Send the wake-up message; a failure is logged, and the worker's reaper re-sends later."""
    try:
        from worker.celery_app import send_analyze

        send_analyze(job_id)
    except Exception:
        log.warning("could not send analysis job %s to the broker; the reaper will re-send it", job_id,
                    exc_info=True)


def list_jobs(session: Session, *, user: User, slide_id: int) -> list[AnalysisJob]:
    slide = get_slide(session, user=user, slide_id=slide_id)
    return list(session.execute(
        select(AnalysisJob).where(AnalysisJob.slide_id == slide.id).order_by(AnalysisJob.id.desc())
    ).scalars())


def cancel_job(session: Session, *, user: User, job_id: int) -> AnalysisJob:
    """A queued job is cancelled at once; a running one is flagged and its worker stops at the next beat."""
    job = get_job(session, user=user, job_id=job_id)
    job = session.execute(_locked(session, select(AnalysisJob).where(AnalysisJob.id == job.id))).scalar_one()
    assert isinstance(job, AnalysisJob)
    if job.state in FINISHED:
        raise Conflict(f"Analysis job {job_id} has already finished ({job.state}).", code="job_finished")
    job.cancel_requested = True
    if job.state == JobState.queued.value:
        job.state = JobState.cancelled.value
        job.finished_at = utcnow()
    session.flush()
    record(session, "analysis.cancel_requested", institution_id=job.institution_id, actor_user_id=user.id,
           object_type="analysis_job", object_id=job.id, details={"state": job.state})
    if job.state == JobState.cancelled.value:
        settle_case(session, job, actor_user_id=user.id)
    return job


def settle_case(session: Session, job: AnalysisJob, *, actor_user_id: int | None = None) -> None:
    """After a job ends: the case becomes ai_ready once no analysis of it is active and one succeeded;
    if none succeeded it returns to the state it had before analysis."""
    slide_case = select(Slide.case_id).where(Slide.id == job.slide_id).scalar_subquery()
    case = session.execute(_locked(session, select(Case).where(Case.id == slide_case))).scalar_one()
    if case.state != CaseState.analyzing.value:
        return
    case_slides = select(Slide.id).where(Slide.case_id == case.id)
    states = set(session.execute(
        select(AnalysisJob.state).where(AnalysisJob.slide_id.in_(case_slides)).distinct()
    ).scalars())
    if states & set(ACTIVE):
        return
    if JobState.succeeded.value in states:
        set_case_state(session, case, CaseState.ai_ready.value, actor_user_id=actor_user_id,
                       reason=f"analysis job {job.id} {job.state}")
    else:
        before = str((job.result or {}).get("case_state_before") or CaseState.uploaded.value)
        set_case_state(session, case, before, actor_user_id=actor_user_id,
                       reason=f"analysis job {job.id} {job.state}")


def _latest_result(session: Session, *, user: User, slide_id: int) -> tuple[Slide, AnalysisJob | None, list[Glomerulus]]:
    """The slide, its latest succeeded analysis and that analysis's glomeruli, if the user may see AI results."""
    slide = get_slide(session, user=user, slide_id=slide_id)
    # Blinded first read (DOMAIN.md §1): the AI's glomeruli are AI results.
    ensure_ai_visible(session, case_id=slide.case_id, user=user)
    job = session.execute(
        select(AnalysisJob).where(AnalysisJob.slide_id == slide.id, AnalysisJob.state == JobState.succeeded.value)
        .order_by(AnalysisJob.finished_at.desc(), AnalysisJob.id.desc()).limit(1)
    ).scalar_one_or_none()
    if job is None:
        return slide, None, []
    rows = session.execute(select(Glomerulus).where(Glomerulus.job_id == job.id).order_by(Glomerulus.index)).scalars()
    return slide, job, list(rows)


def slide_glomeruli(session: Session, *, user: User, slide_id: int) -> SlideGlomeruliOut:
    _, job, rows = _latest_result(session, user=user, slide_id=slide_id)
    if job is None:
        return SlideGlomeruliOut(job=None, glomeruli=[])
    return SlideGlomeruliOut(
        job=JobOut.model_validate(job),
        glomeruli=[
            GlomerulusOut(id=g.id, index=g.index, polygon=g.polygon, bbox=[g.bbox_x0, g.bbox_y0, g.bbox_x1, g.bbox_y1],
                          area_um2=g.area_um2, detection_score=g.detection_score, findings=g.findings,
                          status=g.status, flags=g.flags)
            for g in rows
        ],
    )


def slide_glomeruli_geojson(session: Session, *, user: User, slide_id: int) -> tuple[dict[str, Any], str]:
    """The latest analysis's glomeruli as QuPath-compatible GeoJSON (level-0 px), and a file name.

    Opens in QuPath over the same slide (File → Import objects), so the AI's outlines can be checked
    or corrected there. The export is audited: it takes AI results (and outlines of patient tissue)
    out of glomcheck.

    Raises:
        Conflict: the slide has no finished analysis yet.
    """
    slide, job, rows = _latest_result(session, user=user, slide_id=slide_id)
    if job is None:
        raise Conflict("This slide has no finished AI analysis yet, so there are no glomeruli to export.",
                       code="not_analysed")
    fc = feature_collection(f"slide-{slide.id}-job-{job.id}", rows)
    stats = (job.result or {}).get("stats") or {}
    ink = ink_features(stats.get("ink_regions_px") or [])
    fc["features"] += ink  # what the analysis left out as marker ink, so QuPath shows it too
    fc["properties"] = {"glomcheck": {"slide_id": slide.id, "job_id": job.id, "model_versions": job.model_versions,
                                      "coordinates": "level-0 pixels", "n_glomeruli": len(rows),
                                      "n_ink_regions": len(ink)}}
    record(session, "glomeruli.exported", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="slide", object_id=slide.id, details={"job_id": job.id, "n_glomeruli": len(rows),
                                                             "format": "geojson"})
    return fc, f"slide-{slide.id}-glomeruli.geojson"


# --------------------------------------------------------------------------------------------
# Server-Sent Events


def _snapshot(job_id: int) -> JobOut | None:
    with session_scope() as session:
        job = session.get(AnalysisJob, job_id)
        return None if job is None else JobOut.model_validate(job)


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def job_events(job_id: int, *, poll_s: float = 0.5, keepalive_s: float = 15.0,
                     hide_result: bool = False) -> AsyncIterator[str]:
    """`event: job` with the JobOut JSON whenever state, stage or progress changes, until the job ends;
    then `event: end`. Polls the row (the source of truth) so any worker on any host is seen."""
    yield "retry: 2000\n\n"
    last: tuple[Any, ...] | None = None
    quiet = 0.0
    while True:
        snap = await anyio.to_thread.run_sync(_snapshot, job_id)
        if snap is not None and hide_result:
            snap = snap.model_copy(update={"result": {"hidden": "blinded_first_read"}})
        if snap is None:
            yield _sse("end", json.dumps({"reason": "deleted"}))
            return
        key = (snap.state, snap.stage, round(snap.progress, 3), snap.attempts, snap.cancel_requested)
        if key != last:
            last, quiet = key, 0.0
            yield _sse("job", snap.model_dump_json())
        elif quiet >= keepalive_s:
            quiet = 0.0
            yield ": keepalive\n\n"
        if snap.state in FINISHED:
            yield _sse("end", json.dumps({"state": snap.state}))
            return
        await asyncio.sleep(poll_s)
        quiet += poll_s


def job_out(session: Session, *, user: User, job: AnalysisJob) -> JobOut:
    """A job as the user may see it: while the blinded first read hides AI results, the result summary
    (glomerulus counts, model output) is withheld; state, stage and progress stay visible."""
    out = JobOut.model_validate(job)
    case_id = session.execute(select(Slide.case_id).where(Slide.id == job.slide_id)).scalar_one()
    if not ai_visible(session, case_id=case_id, user=user):
        out = out.model_copy(update={"result": {"hidden": "blinded_first_read"}})
    return out
