"""Shared helpers for upload, slide and case tests: tus client steps, zips, storage inspection."""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from tests.conftest import SHARED_DATA

SLIDES = SHARED_DATA / "slides"
TUS = {"Tus-Resumable": "1.0.0"}
VALID = ["CMU-1-Small-Region.svs", "ndpi-fluorescence-dapi.ndpi", "dicom-cmu1-small", "generic-tiled-boxes.tiff",
         "tiny-16px.svs"]
INVALID = sorted(p.name for p in (SLIDES / "invalid").iterdir())


def meta(**kv: Any) -> str:
    return ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in kv.items())


def new_case(client: TestClient) -> dict[str, Any]:
    r = client.post("/api/cases")
    assert r.status_code == 201, r.text
    return r.json()


def zip_folder(src: Path, dest: Path, *, arc_root: str | None = None) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                rel = p.relative_to(src).as_posix()
                zf.write(p, f"{arc_root}/{rel}" if arc_root else rel)
    return dest


def upload_source(name: str, tmp: Path) -> tuple[bytes, str]:
    """Bytes and upload file name of a sample: folders (the DICOM series) are zipped first."""
    p = SLIDES / name
    if p.is_dir():
        return zip_folder(p, tmp / f"{name}.zip", arc_root=name).read_bytes(), f"{name}.zip"
    return p.read_bytes(), name


def tus_create(client: TestClient, *, length: int, case_id: int, filename: str, stain: str = "pas",
               **headers: str) -> Response:
    return client.post("/api/uploads", headers={**TUS, "Upload-Length": str(length),
                                                "Upload-Metadata": meta(filename=filename, case_id=case_id,
                                                                        stain=stain), **headers})


def tus_patch(client: TestClient, url: str, data: bytes, offset: int, **headers: str) -> Response:
    return client.patch(url, content=data, headers={**TUS, "Upload-Offset": str(offset),
                                                    "Content-Type": "application/offset+octet-stream", **headers})


def tus_upload(client: TestClient, data: bytes, *, case_id: int, filename: str, stain: str = "pas",
               chunk: int = 1 << 20) -> tuple[str, Response]:
    """A complete chunked tus upload; returns (upload URL, response of the last PATCH)."""
    r = tus_create(client, length=len(data), case_id=case_id, filename=filename, stain=stain)
    assert r.status_code == 201, r.text
    url = r.headers["Location"]
    offset = 0
    last = r
    while offset < len(data):
        last = tus_patch(client, url, data[offset:offset + chunk], offset)
        if last.status_code != 204:
            return url, last
        offset = int(last.headers["Upload-Offset"])
    return url, last


def put_upload(client: TestClient, data: bytes, *, case_id: int, filename: str, stain: str = "pas",
               content_type: str = "application/octet-stream") -> Response:
    return client.put(f"/api/cases/{case_id}/slides", params={"filename": filename, "stain": stain},
                      content=data, headers={"Content-Type": content_type})


def stored_files(storage_dir: Path) -> list[str]:
    """Every regular file under the storage root (a rejected upload must leave none)."""
    if not storage_dir.exists():
        return []
    return sorted(p.relative_to(storage_dir).as_posix() for p in storage_dir.rglob("*") if p.is_file() or p.is_symlink())


def slide_count() -> int:
    from app.db.models import Slide
    from app.db.session import session_scope

    with session_scope() as s:
        return int(s.execute(select(func.count()).select_from(Slide)).scalar_one())


def audit_actions() -> list[str]:
    from app.db.models import AuditEvent
    from app.db.session import session_scope

    with session_scope() as s:
        return list(s.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def storage_root() -> Path:
    from app.config import get_settings

    return get_settings().storage
