"""MRXS through the real upload API: a zip of `<name>.mrxs` + `<name>/` becomes a de-identified slide
that serves tiles and has no label or macro; one the de-identification cannot clean is refused."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Person, login
from tests.deid.mrxs_factory import PLANTED, make_mrxs
from tests.uploads.helpers import (
    audit_actions,
    new_case,
    put_upload,
    slide_count,
    storage_root,
    stored_files,
    tus_upload,
    zip_folder,
)


def _mrxs_zip(tmp: Path, name: str = "JOHN_DOE_123") -> tuple[Path, bytes]:
    src = tmp / "src"
    src.mkdir()
    mrxs = make_mrxs(src, name)
    return mrxs, zip_folder(src, tmp / f"{name}.zip").read_bytes()


def _upload_details() -> dict:
    from app.db.models import AuditEvent
    from app.db.session import session_scope

    with session_scope() as s:
        ev = s.execute(select(AuditEvent).where(AuditEvent.action == "slide.uploaded")).scalar_one()
        return dict(ev.details)


def test_mrxs_zip_upload_is_deidentified_and_served(
    app_client: TestClient, users: dict[str, Person], tmp_path: Path
) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    _, data = _mrxs_zip(tmp_path)
    url, last = tus_upload(
        app_client, data, case_id=case["id"], filename="JOHN_DOE_123.zip", chunk=len(data) // 3 + 1
    )
    assert last.status_code == 204, last.text
    assert last.headers["Glomcheck-Upload-Status"] == "ready"
    slide_id = int(last.headers["Glomcheck-Slide-Id"])
    assert app_client.get(f"{url}/result").json()["status"] == "ready"

    meta = app_client.get(f"/api/slides/{slide_id}").json()
    assert meta["format"] == "mirax"
    assert (meta["width"], meta["height"]) == (1024, 1024) and meta["level_count"] == 3
    assert meta["mpp_x"] == 0.25 and meta["objective_power"] == 40
    assert meta["associated_images"] == []
    assert "JOHN_DOE_123" not in str(meta)
    for name in ("label", "macro", "thumbnail"):
        assert app_client.get(f"/api/slides/{slide_id}/associated/{name}.jpg").status_code == 404

    thumb = app_client.get(f"/api/slides/{slide_id}/thumbnail.jpg", params={"max": 128})
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert app_client.get(f"/api/slides/{slide_id}/dzi").status_code == 200
    for level in (0, 5, 10):  # 1024 px → Deep Zoom levels 0..10
        tile = app_client.get(f"/api/slides/{slide_id}/dzi_files/{level}/0_0.jpeg")
        assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"

    # only the de-identified copy is stored, under neutral names, and no planted string is in it
    files = stored_files(storage_root())
    slide_files = [f for f in files if f.startswith(f"slides/{users['path1'].institution_id}/")]
    assert {Path(f).name for f in slide_files} == {"slide.mrxs", "Slidedat.ini", "Index.dat", "Data0000.dat"}
    assert all("JOHN_DOE" not in f for f in files)
    raw = b"".join((storage_root() / f).read_bytes() for f in files)
    for s in PLANTED:
        assert s.encode() not in raw, s

    details = _upload_details()
    # The audit entry carries the certificate as a JSON object.
    cert = details["deidentification"]
    assert isinstance(cert, dict) and cert["format"] == "mrxs" and cert["verified"] is True
    removed_images = {r["name"] for r in cert["removed"] if r["kind"] == "associated_image"}
    assert {"label", "macro", "thumbnail"} <= removed_images
    assert len(cert["sha256_before"]) == 64 and cert["sha256_before"] != cert["sha256_after"]
    assert "JOHN_DOE_123" not in str(details)


def test_mrxs_put_upload(app_client: TestClient, users: dict[str, Person], tmp_path: Path) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    _, data = _mrxs_zip(tmp_path, "slide-42")
    r = put_upload(
        app_client, data, case_id=case["id"], filename="slide-42.zip", content_type="application/zip"
    )
    assert r.status_code == 201, r.text
    slide = app_client.get(f"/api/slides/{r.json()['slide_id']}").json()
    assert slide["format"] == "mirax" and slide["associated_images"] == []


def test_mrxs_that_cannot_be_cleaned_is_refused(
    app_client: TestClient, users: dict[str, Person], tmp_path: Path
) -> None:
    """OpenSlide opens it, but its label JPEG shares bytes with a pyramid tile: zeroing the label would
    damage the pyramid, so the de-identification refuses and nothing is stored."""
    login(app_client, users["path1"])
    case = new_case(app_client)
    src = tmp_path / "src"
    src.mkdir()
    make_mrxs(src, "JOHN_DOE_123", label_shares_tile=True)
    data = zip_folder(src, tmp_path / "x.zip").read_bytes()

    _, last = tus_upload(app_client, data, case_id=case["id"], filename="x.zip")
    assert last.status_code == 422, last.text
    body = last.json()
    assert body["error"] == "deidentification_failed" and "shares bytes" in body["detail"]
    assert stored_files(storage_root()) == []
    assert slide_count() == 0
    assert "slide.upload_rejected" in audit_actions()
