"""Slide uploads: a tus 1.0 server (core + creation, termination, expiration) under /api/uploads, and a
plain streamed PUT/POST /api/cases/{id}/slides for scripts.

Why not the `tuspyserver` router: its PATCH streams the body before its auth dependency runs, takes
its per-upload file lock with a blocking sleep-poll inside the event loop (a resumed PATCH racing the
old, still-draining one freezes the whole process for up to 30 s), never checks the declared
Upload-Length against the limit at creation, buffers creation-with-upload bodies in memory, lets a
concatenated upload pull in any other user's partial upload, and 400s a HEAD without `filetype`
metadata. The protocol surface tus-js-client/Uppy need is small, so it is implemented here.

Every tus request needs a session or bearer token; the body of a PATCH is read only after auth,
ownership, Tus-Resumable, Content-Type and offset have been checked.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from app.config import get_settings
from app.db.models import User
from app.db.session import session_scope
from app.deps import CurrentUser, SessionDep
from app.errors import BadRequest, Conflict, DomainError, PayloadTooLarge, UnsupportedMedia
from app.slides.ingest import IngestResult
from app.slides.storage import remove_path
from app.uploads import service, streaming
from app.uploads.schemas import UploadResult

router = APIRouter(tags=["uploads"])

TUS = "/api/uploads"
PATCH_TYPE = "application/offset+octet-stream"
RAW_TYPES = {"", "application/octet-stream", "application/zip", "application/x-zip-compressed",
             "application/dicom", "image/tiff"}


class TusVersionMismatch(DomainError):
    status_code = 412
    code = "tus_version_mismatch"


class UploadLocked(DomainError):
    status_code = 423
    code = "upload_locked"


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": service.TUS_VERSION, "Cache-Control": "no-store", **extra}


def _check_version(tus_resumable: str | None) -> None:
    if tus_resumable != service.TUS_VERSION:
        raise TusVersionMismatch(f"Send Tus-Resumable: {service.TUS_VERSION}.",
                                 extra={"tus_version": service.TUS_VERSION})


TusResumable = Annotated[str | None, Header(alias="Tus-Resumable")]


@router.options(TUS, status_code=204, operation_id="tusOptions")
def tus_options(user: CurrentUser) -> Response:
    return Response(status_code=204, headers=_tus_headers(
        **{"Tus-Version": service.TUS_VERSION, "Tus-Extension": service.TUS_EXTENSIONS,
           "Tus-Max-Size": str(get_settings().max_upload_bytes)}))


@router.post(TUS, status_code=201, operation_id="tusCreateUpload", response_class=Response)
def tus_create(
    user: CurrentUser,
    session: SessionDep,
    tus_resumable: TusResumable = None,
    upload_length: Annotated[int | None, Header(alias="Upload-Length", ge=0)] = None,
    upload_metadata: Annotated[str | None, Header(alias="Upload-Metadata")] = None,
    upload_defer_length: Annotated[str | None, Header(alias="Upload-Defer-Length")] = None,
    upload_concat: Annotated[str | None, Header(alias="Upload-Concat")] = None,
    content_length: Annotated[int | None, Header(alias="Content-Length")] = None,
) -> Response:
    """tus creation. Upload-Metadata: `filename`, `case_id`, optional `stain` (default pas). The
    declared Upload-Length is checked against the limit before anything is stored (413)."""
    _check_version(tus_resumable)
    if upload_concat is not None:
        raise BadRequest("The tus concatenation extension is not supported.", code="tus_unsupported")
    if upload_length is None or upload_defer_length is not None:
        raise BadRequest("Declare the file size in Upload-Length (deferred length is not supported).",
                         code="upload_length_required")
    if content_length:
        raise BadRequest("Send the data with PATCH after creation (creation-with-upload is not supported).",
                         code="tus_unsupported")
    upload = service.create_upload(session, user=user, length=upload_length,
                                   metadata=service.parse_metadata(upload_metadata))
    return Response(status_code=201, headers=_tus_headers(**{
        "Location": f"{TUS}/{upload.id}", "Upload-Offset": "0",
        "Upload-Expires": upload.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")}))


@router.head(f"{TUS}/{{upload_id}}", operation_id="tusHeadUpload", response_class=Response)
def tus_head(upload_id: str, user: CurrentUser, session: SessionDep, tus_resumable: TusResumable = None) -> Response:
    """Offset to resume from. A finished upload reports offset = length; its outcome is in /result."""
    _check_version(tus_resumable)
    upload = service.get_upload(session, user=user, upload_id=upload_id)
    headers = _tus_headers(**{
        "Upload-Offset": str(service.current_offset(upload)), "Upload-Length": str(upload.length),
        "Upload-Metadata": service.encode_metadata(
            {"filename": upload.filename, "case_id": str(upload.case_id), "stain": upload.stain}),
        "Glomcheck-Upload-Status": upload.status})
    return Response(status_code=200, headers=headers)


@router.patch(f"{TUS}/{{upload_id}}", status_code=204, operation_id="tusPatchUpload", response_class=Response)
async def tus_patch(
    upload_id: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    tus_resumable: TusResumable = None,
    content_type: Annotated[str | None, Header(alias="Content-Type")] = None,
    upload_offset: Annotated[int | None, Header(alias="Upload-Offset", ge=0)] = None,
    content_length: Annotated[int | None, Header(alias="Content-Length", ge=0)] = None,
) -> Response:
    """Append bytes at Upload-Offset. The request that delivers the last byte also ingests the file:
    204 with Glomcheck-Upload-Status ready|duplicate and Glomcheck-Slide-Id, or a 4xx JSON rejection
    (the same outcome stays readable at GET /api/uploads/{id}/result)."""
    _check_version(tus_resumable)
    if (content_type or "").split(";")[0].strip().lower() != PATCH_TYPE:
        raise UnsupportedMedia(f"PATCH bodies must be sent as Content-Type: {PATCH_TYPE}.")
    if upload_offset is None:
        raise BadRequest("The Upload-Offset header is required.", code="upload_offset_required")
    upload = await run_in_threadpool(service.get_upload, session, user=user, upload_id=upload_id)
    service.require_receiving(upload)
    path = service.data_path(upload.id)
    if not path.exists():
        raise BadRequest("This upload's data is gone (expired or cancelled); start a new upload.",
                         code="upload_gone")
    try:
        async with streaming.locked_append(path) as fd:
            current = path.stat().st_size
            if upload_offset != current:
                raise Conflict(f"Upload-Offset {upload_offset} does not match the server's offset {current}; "
                               "HEAD the upload and resume from there.", code="offset_mismatch",
                               extra={"offset": current})
            remaining = upload.length - current
            if content_length is not None and content_length > remaining:
                raise BadRequest(f"The body ({content_length} bytes) would exceed the declared Upload-Length "
                                 f"({remaining} bytes left).", code="exceeds_upload_length")
            try:
                got = await streaming.receive_into(request, fd, limit=remaining)
            except streaming.BodyTooLong:
                await run_in_threadpool(_truncate, path, current)
                raise BadRequest("The body exceeds the declared Upload-Length.", code="exceeds_upload_length") from None
            offset = current + got.written
            headers = _tus_headers(**{"Upload-Offset": str(offset)})
            if offset < upload.length or got.disconnected:
                return Response(status_code=204, headers=headers)
            result = await _complete(user=user, upload_id=upload.id, case_id=upload.case_id,
                                     fn=lambda: service.complete_upload(session, user=user, upload=upload))
    except streaming.Locked:
        raise UploadLocked("Another request is writing to this upload; retry shortly.") from None
    headers["Glomcheck-Upload-Status"] = "duplicate" if result.duplicate else "ready"
    headers["Glomcheck-Slide-Id"] = str(result.slide.id)
    return Response(status_code=204, headers=headers)


def _truncate(path: Path, size: int) -> None:
    os.truncate(path, size)


@router.post(f"{TUS}/{{upload_id}}", status_code=204, include_in_schema=False, response_class=Response)
async def tus_method_override(upload_id: str, request: Request, user: CurrentUser, session: SessionDep,
                              override: Annotated[str | None, Header(alias="X-HTTP-Method-Override")] = None,
                              tus_resumable: TusResumable = None) -> Response:
    """tus-js-client's `overridePatchMethod` sends PATCH/DELETE as POST with X-HTTP-Method-Override."""
    method = (override or "").upper()
    if method == "PATCH":
        h = request.headers
        return await tus_patch(upload_id, request, user, session, tus_resumable, h.get("content-type"),
                               _int_header(h.get("upload-offset")), _int_header(h.get("content-length")))
    if method == "DELETE":
        return await run_in_threadpool(tus_delete, upload_id, user, session, tus_resumable)
    raise BadRequest("POST to an upload needs X-HTTP-Method-Override: PATCH or DELETE.", code="method_not_allowed")


def _int_header(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        return int(v)
    except ValueError:
        raise BadRequest(f"Header value {v[:20]!r} is not an integer.", code="invalid_header") from None


@router.delete(f"{TUS}/{{upload_id}}", status_code=204, operation_id="tusDeleteUpload", response_class=Response)
def tus_delete(upload_id: str, user: CurrentUser, session: SessionDep, tus_resumable: TusResumable = None) -> Response:
    """tus termination: abandon an unfinished upload and free its bytes."""
    _check_version(tus_resumable)
    service.cancel_upload(session, user=user, upload_id=upload_id)
    return Response(status_code=204, headers=_tus_headers())


@router.get(f"{TUS}/{{upload_id}}/result", response_model=UploadResult, operation_id="getUploadResult")
def upload_result(upload_id: str, user: CurrentUser, session: SessionDep) -> UploadResult:
    """The outcome of a tus upload: receiving (with offset) | ready | duplicate | rejected (error, detail)."""
    return service.result_of(service.get_upload(session, user=user, upload_id=upload_id))


@router.put("/api/cases/{case_id}/slides", status_code=201, response_model=UploadResult,
            operation_id="uploadSlideRaw",
            responses={200: {"model": UploadResult, "description": "Duplicate: already in the case"}})
@router.post("/api/cases/{case_id}/slides", status_code=201, response_model=UploadResult, include_in_schema=False)
async def upload_raw(
    case_id: int,
    request: Request,
    response: Response,
    user: CurrentUser,
    session: SessionDep,
    filename: Annotated[str, Query(min_length=1, max_length=255)],
    stain: Annotated[str, Query(max_length=16)] = "pas",
    content_type: Annotated[str | None, Header(alias="Content-Type")] = None,
    content_length: Annotated[int | None, Header(alias="Content-Length", ge=0)] = None,
) -> UploadResult:
    """For scripts: the raw file as the body (`curl -T slide.svs`), streamed to disk. 201 ready,
    200 duplicate, 4xx JSON rejection."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype not in RAW_TYPES:
        raise UnsupportedMedia(f"Send the raw file bytes as the body with Content-Type: application/octet-stream "
                               f"(got {ctype[:60]!r}).")
    case = await run_in_threadpool(service.prepare, session, user=user, case_id=case_id, filename=filename,
                                   stain=stain, length=content_length)
    limit = get_settings().max_upload_bytes
    path = service.data_path(f"put-{uuid.uuid4().hex}")
    fd = await run_in_threadpool(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            got = await streaming.receive_into(request, fd, limit=limit)
        except streaming.BodyTooLong:
            raise PayloadTooLarge(f"The body exceeds the upload limit of {limit} bytes.", code="file_too_large") from None
        finally:
            os.close(fd)
        if got.disconnected:
            raise BadRequest("The connection dropped before the whole file arrived; use /api/uploads (tus) to "
                             "resume large files.", code="incomplete_upload")
        result = await _complete(user=user, upload_id=None, case_id=case.id,
                                 fn=lambda: service.ingest_streamed(session, user=user, case=case, path=path,
                                                                    filename=filename, stain=stain))
    finally:
        await run_in_threadpool(remove_path, path)
    if result.duplicate:
        response.status_code = 200
    return service.result_of_ingest(result, case_id=case.id)


async def _complete(*, user: User, upload_id: str | None, case_id: int,
                    fn: Callable[[], IngestResult]) -> IngestResult:
    """Run the ingest off the event loop. A refusal is recorded in its own transaction (the request's
    own transaction rolls back with the error) and then re-raised as the 4xx answer."""
    try:
        return await run_in_threadpool(fn)
    except BaseException as exc:
        uid, inst, err = user.id, user.institution_id, exc

        def _record() -> None:
            with session_scope() as s:
                service.record_rejection(s, user_id=uid, institution_id=inst, case_id=case_id,
                                         upload_id=upload_id, exc=err)

        if isinstance(exc, Exception):
            await run_in_threadpool(_record)
        raise
