"""Analysis jobs: request, follow (poll or Server-Sent Events), cancel, and read the glomeruli."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from app.analysis import service
from app.analysis.schemas import AnalyzeIn, JobOut, SlideGlomeruliOut
from app.deps import CurrentUser, SessionDep, after_commit
from app.reports.service import ai_visible

router = APIRouter(prefix="/api", tags=["analysis"])


@router.post("/slides/{slide_id}/analyze", response_model=JobOut, status_code=202, operation_id="analyzeSlide")
def analyze_slide(slide_id: int, request: Request, user: CurrentUser, session: SessionDep,
                  body: AnalyzeIn | None = None) -> JobOut:
    """Queue an AI analysis of the slide; 409 if one is already queued or running."""
    job = service.request_analysis(session, user=user, slide_id=slide_id, mpp=body.mpp if body else None)
    job_id = job.id
    after_commit(request, lambda: service.enqueue(job_id))
    return service.job_out(session, user=user, job=job)


@router.get("/jobs/{job_id}", response_model=JobOut, operation_id="getJob")
def get_job(job_id: int, user: CurrentUser, session: SessionDep) -> JobOut:
    return service.job_out(session, user=user, job=service.get_job(session, user=user, job_id=job_id))


@router.get("/slides/{slide_id}/jobs", response_model=list[JobOut], operation_id="listSlideJobs")
def list_slide_jobs(slide_id: int, user: CurrentUser, session: SessionDep) -> list[JobOut]:
    """All analysis jobs of a slide, newest first."""
    return [service.job_out(session, user=user, job=j) for j in service.list_jobs(session, user=user, slide_id=slide_id)]


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, operation_id="cancelJob")
def cancel_job(job_id: int, user: CurrentUser, session: SessionDep) -> JobOut:
    """Cancel a queued job now, or ask a running one to stop; 409 if it already finished."""
    return service.job_out(session, user=user, job=service.cancel_job(session, user=user, job_id=job_id))


@router.get("/jobs/{job_id}/events", operation_id="streamJobEvents",
            responses={200: {"content": {"text/event-stream": {}}, "description": "`event: job` (JobOut JSON) "
                             "on every change, then `event: end` once the job has finished."}})
def job_events(job_id: int, user: CurrentUser, session: SessionDep) -> StreamingResponse:
    """Server-Sent Events with the job's state, stage and progress until it finishes."""
    job = service.get_job(session, user=user, job_id=job_id)
    case_id = service.get_slide(session, user=user, slide_id=job.slide_id).case_id
    hide = not ai_visible(session, case_id=case_id, user=user)
    return StreamingResponse(service.job_events(job.id, hide_result=hide), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/slides/{slide_id}/glomeruli.geojson", operation_id="downloadSlideGlomeruliGeojson",
            response_class=Response,
            responses={200: {"content": {"application/geo+json": {}}, "description": "QuPath-compatible GeoJSON"},
                       409: {"description": "the slide has no finished analysis"}})
def slide_glomeruli_geojson(slide_id: int, user: CurrentUser, session: SessionDep) -> Response:
    """The latest analysis's glomeruli as a GeoJSON download for QuPath (File → Import objects); audited."""
    fc, filename = service.slide_glomeruli_geojson(session, user=user, slide_id=slide_id)
    return Response(json.dumps(fc, separators=(",", ":")), media_type="application/geo+json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@router.get("/slides/{slide_id}/glomeruli", response_model=SlideGlomeruliOut, operation_id="getSlideGlomeruli")
def slide_glomeruli(slide_id: int, user: CurrentUser, session: SessionDep) -> SlideGlomeruliOut:
    """Glomeruli of the slide's latest succeeded analysis."""
    return service.slide_glomeruli(session, user=user, slide_id=slide_id)
