"""Upload bookkeeping: who may send what into which case, where the partial bytes live, how it ended.

Every check that can refuse an upload (auth, case ownership, file name, stain, declared size) runs
before the first byte is stored. The bytes of an unfinished tus upload live in storage/uploads/<id>;
on completion they are handed to `app.slides.ingest`, which consumes them whatever the outcome.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.audit.service import record
from app.cases.service import get_case
from app.db.base import utcnow
from app.db.models import Case, Role, Upload, User
from app.errors import BadRequest, Conflict, DomainError, NotFound
from app.slides import ingest, storage
from app.slides.ingest import IngestResult
from app.uploads import repository
from app.uploads.schemas import UploadResult

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
UPLOAD_TTL = timedelta(days=3)
FINISHED = ("ready", "duplicate", "rejected")


def parse_metadata(header: str | None) -> dict[str, str]:
    """tus `Upload-Metadata`: comma-separated `key base64(value)` pairs."""
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"Upload-Metadata value for {key[:40]!r} is not valid base64 UTF-8.",
                             code="invalid_metadata") from None
    return out


def encode_metadata(meta: dict[str, str]) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in meta.items())


def data_path(upload_id: str) -> Path:
    return storage.uploads_dir() / upload_id


def prepare(session: Session, *, user: User, case_id: int, filename: str, stain: str, length: int | None) -> Case:
    """All refusals that need no bytes: name, stain, size, and a case of the caller's institution."""
    ingest.check_filename(filename)
    ingest.check_stain(stain)
    if length is not None:
        ingest.check_declared_size(length)
    return get_case(session, user=user, case_id=case_id)


def create_upload(session: Session, *, user: User, length: int, metadata: dict[str, str]) -> Upload:
    """Validate a tus creation request and reserve an (empty) file for its bytes."""
    filename = metadata.get("filename") or metadata.get("name") or ""
    raw_case = metadata.get("case_id") or metadata.get("caseId") or ""
    try:
        case_id = int(raw_case)
    except ValueError:
        raise BadRequest("Upload-Metadata must name the case: case_id <base64 of the case id>.",
                         code="invalid_metadata") from None
    stain = metadata.get("stain") or "pas"
    case = prepare(session, user=user, case_id=case_id, filename=filename, stain=stain, length=length)
    purge_expired(session)
    upload = Upload(id=uuid.uuid4().hex, institution_id=user.institution_id, user_id=user.id, case_id=case.id,
                    filename=ingest.check_filename(filename), stain=ingest.check_stain(stain), length=length,
                    status="receiving", expires_at=utcnow() + UPLOAD_TTL)
    session.add(upload)
    session.flush()
    path = data_path(upload.id)
    path.open("xb").close()
    storage.on_rollback(session, lambda: storage.remove_path(path))
    return upload


def get_upload(session: Session, *, user: User, upload_id: str) -> Upload:
    """The uploader's own upload (or, for an admin, one of the institution's); 404 otherwise."""
    upload = repository.get(session, upload_id) if len(upload_id) == 32 else None
    if upload is None or upload.institution_id != user.institution_id or (
        upload.user_id != user.id and user.role not in (Role.admin, Role.network_admin)
    ):
        raise NotFound(f"Upload {upload_id[:40]} not found.", code="upload_not_found")
    return upload


def current_offset(upload: Upload) -> int:
    if upload.status in FINISHED:
        return upload.length
    p = data_path(upload.id)
    if upload.status != "receiving" or not p.exists():
        raise NotFound("This upload was cancelled or has expired; start a new one.", code="upload_gone")
    return p.stat().st_size


def require_receiving(upload: Upload) -> None:
    if upload.status != "receiving":
        raise Conflict(f"This upload has already ended ({upload.status}).", code="upload_finished")


def complete_upload(session: Session, *, user: User, upload: Upload) -> IngestResult:
    """All bytes are in: ingest them (the data file is consumed) and close the receipt."""
    case = get_case(session, user=user, case_id=upload.case_id)
    result = ingest.ingest_file(session, case=case, src=data_path(upload.id), filename=upload.filename,
                                stain=upload.stain, user_id=user.id)
    upload.status = "duplicate" if result.duplicate else "ready"
    upload.slide_id = result.slide.id
    upload.completed_at = utcnow()
    upload.filename = ingest.extension_of(upload.filename) or "-"
    session.flush()
    return result


def ingest_streamed(session: Session, *, user: User, case: Case, path: Path, filename: str,
                    stain: str) -> IngestResult:
    return ingest.ingest_file(session, case=case, src=path, filename=filename, stain=stain, user_id=user.id)


def record_rejection(session: Session, *, user_id: int, institution_id: int, case_id: int | None,
                     upload_id: str | None, exc: BaseException) -> None:
    """Remember why an upload was refused. Runs in its own transaction: the request's is rolled back."""
    code = exc.code if isinstance(exc, DomainError) else "internal_error"
    detail = exc.detail if isinstance(exc, DomainError) else "An unexpected error occurred; it has been logged."
    if upload_id is not None:
        upload = repository.get(session, upload_id)
        if upload is not None:
            upload.status, upload.error, upload.detail = "rejected", code, detail
            upload.completed_at = utcnow()
            upload.filename = ingest.extension_of(upload.filename) or "-"
            storage.remove_path(data_path(upload_id))
    record(session, "slide.upload_rejected", institution_id=institution_id, actor_user_id=user_id,
           object_type="case", object_id=case_id,
           details={"error": code, "detail": detail, "upload_id": upload_id})
    session.flush()


def cancel_upload(session: Session, *, user: User, upload_id: str) -> None:
    upload = get_upload(session, user=user, upload_id=upload_id)
    require_receiving(upload)
    upload.status = "cancelled"
    upload.completed_at = utcnow()
    upload.filename = ingest.extension_of(upload.filename) or "-"
    session.flush()
    path = data_path(upload.id)
    storage.on_commit(session, lambda: storage.remove_path(path))


def purge_expired(session: Session) -> None:
    """Drop the bytes of uploads nobody resumed in time (tus `expiration`)."""
    for up in repository.expired_receiving(session, now=utcnow()):
        up.status = "expired"
        path = data_path(up.id)
        storage.on_commit(session, lambda p=path: storage.remove_path(p))  # type: ignore[misc]
    session.flush()


def result_of(upload: Upload) -> UploadResult:
    offset = None
    if upload.status == "receiving":
        p = data_path(upload.id)
        offset = p.stat().st_size if p.exists() else None
    elif upload.status in FINISHED:
        offset = upload.length
    return UploadResult(upload_id=upload.id, status=upload.status, case_id=upload.case_id,  # type: ignore[arg-type,unused-ignore]
                        slide_id=upload.slide_id, offset=offset, length=upload.length, error=upload.error,
                        detail=upload.detail, created_at=upload.created_at, completed_at=upload.completed_at)


def result_of_ingest(result: IngestResult, *, case_id: int, upload_id: str | None = None) -> UploadResult:
    return UploadResult(upload_id=upload_id, status="duplicate" if result.duplicate else "ready", case_id=case_id,
                        slide_id=result.slide.id, length=result.slide.bytes,
                        detail="This file is already in the case." if result.duplicate else None)
