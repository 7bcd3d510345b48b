"""Resumable tus uploads end to end: every valid sample becomes a slide that serves metadata,
thumbnail, Deep Zoom descriptor and tiles; every invalid one is refused and leaves nothing behind."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import Person, login
from tests.uploads.helpers import (
    INVALID,
    SLIDES,
    TUS,
    VALID,
    audit_actions,
    meta,
    new_case,
    slide_count,
    storage_root,
    stored_files,
    tus_create,
    tus_patch,
    tus_upload,
    upload_source,
)

EXPECTED_DIMS = {
    "CMU-1-Small-Region.svs": (2220, 2967),
    "ndpi-fluorescence-dapi.ndpi": (3968, 4864),
    "dicom-cmu1-small": (2220, 2967),
    "generic-tiled-boxes.tiff": (300, 250),
    "tiny-16px.svs": (16, 16),
}


def _jpeg(r: object) -> Image.Image:
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.headers["content-type"] == "image/jpeg"  # type: ignore[attr-defined]
    img = Image.open(io.BytesIO(r.content))  # type: ignore[attr-defined]
    img.load()
    return img


@pytest.mark.parametrize("name", VALID)
def test_valid_slide_uploads_in_chunks_and_serves_tiles(
    app_client: TestClient, users: dict[str, Person], tmp_path: Path, name: str
) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data, filename = upload_source(name, tmp_path)
    chunk = max(1, len(data) // 3 + 1)  # always at least three PATCH requests
    url, last = tus_upload(app_client, data, case_id=case["id"], filename=filename, stain="pam", chunk=chunk)
    assert last.status_code == 204, last.text
    assert last.headers["Glomcheck-Upload-Status"] == "ready"
    slide_id = int(last.headers["Glomcheck-Slide-Id"])

    res = app_client.get(f"{url}/result").json()
    assert res["status"] == "ready" and res["slide_id"] == slide_id and res["offset"] == len(data)

    meta_ = app_client.get(f"/api/slides/{slide_id}").json()
    assert (meta_["width"], meta_["height"]) == EXPECTED_DIMS[name]
    assert meta_["stain"] == "pam" and meta_["bytes"] == len(data) and len(meta_["sha256"]) == 64
    assert meta_["level_count"] == len(meta_["level_dimensions"]) >= 1
    if name == "CMU-1-Small-Region.svs":
        assert meta_["mpp_x"] == pytest.approx(0.499, abs=1e-3) and meta_["vendor"]
    assert filename not in meta_["display_name"]  # the original name may identify the patient

    thumb = _jpeg(app_client.get(f"/api/slides/{slide_id}/thumbnail.jpg", params={"max": 128}))
    assert max(thumb.size) <= 128

    dzi = app_client.get(f"/api/slides/{slide_id}/dzi")
    assert dzi.status_code == 200 and "xml" in dzi.headers["content-type"]
    root = ET.fromstring(dzi.text)
    size = root.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    assert size is not None
    w, h = int(size.attrib["Width"]), int(size.attrib["Height"])
    top = max(w, h).bit_length() - (1 if max(w, h) & (max(w, h) - 1) == 0 else 0)
    for level in {0, top // 2, top}:
        _jpeg(app_client.get(f"/api/slides/{slide_id}/dzi_files/{level}/0_0.jpeg"))
    tile = app_client.get(f"/api/slides/{slide_id}/dzi_files/{top}/0_0.jpeg")
    assert tile.headers["etag"].startswith('"') and "immutable" in tile.headers["cache-control"]
    assert app_client.get(f"/api/slides/{slide_id}/dzi_files/{top + 1}/0_0.jpeg").status_code == 404
    assert app_client.get(f"/api/slides/{slide_id}/dzi_files/{top}/999_0.jpeg").json()["error"] == "tile_not_found"

    # the file is in storage/slides/<institution>/<uuid>/, and nothing else is left anywhere
    files = stored_files(storage_root())
    assert files and all(f.startswith(f"slides/{users['path1'].institution_id}/") for f in files)
    assert "slide.uploaded" in audit_actions()


def test_interrupted_upload_resumes_from_head_offset(
    app_client: TestClient, users: dict[str, Person]
) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = (SLIDES / "CMU-1-Small-Region.svs").read_bytes()
    r = tus_create(app_client, length=len(data), case_id=case["id"], filename="CMU.svs")
    url = r.headers["Location"]
    first = tus_patch(app_client, url, data[:700_000], 0)
    assert first.status_code == 204 and first.headers["Upload-Offset"] == "700000"
    # the client lost track: a PATCH at a stale offset is refused, HEAD tells where to resume
    assert tus_patch(app_client, url, data[:10], 0).status_code == 409
    head = app_client.head(url, headers=TUS)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "700000"
    assert head.headers["Upload-Length"] == str(len(data)) and head.headers["Cache-Control"] == "no-store"
    rest = tus_patch(app_client, url, data[700_000:], 700_000)
    assert rest.status_code == 204 and rest.headers["Glomcheck-Upload-Status"] == "ready"
    assert app_client.head(url, headers=TUS).headers["Upload-Offset"] == str(len(data))


def test_duplicate_in_same_case_is_reported_not_stored_twice(
    app_client: TestClient, users: dict[str, Person]
) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = (SLIDES / "tiny-16px.svs").read_bytes()
    _, first = tus_upload(app_client, data, case_id=case["id"], filename="a.svs")
    url, second = tus_upload(app_client, data, case_id=case["id"], filename="b.svs")
    assert second.status_code == 204 and second.headers["Glomcheck-Upload-Status"] == "duplicate"
    assert second.headers["Glomcheck-Slide-Id"] == first.headers["Glomcheck-Slide-Id"]
    res = app_client.get(f"{url}/result").json()
    assert res["status"] == "duplicate" and res["slide_id"] == int(first.headers["Glomcheck-Slide-Id"])
    assert slide_count() == 1
    assert len([f for f in stored_files(storage_root()) if f.startswith("slides/")]) == 1
    # another case may hold the same file
    other = new_case(app_client)
    _, third = tus_upload(app_client, data, case_id=other["id"], filename="a.svs")
    assert third.headers["Glomcheck-Upload-Status"] == "ready" and slide_count() == 2


@pytest.mark.parametrize("name", INVALID)
def test_invalid_file_is_refused_and_leaves_nothing(
    app_client: TestClient, users: dict[str, Person], name: str
) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = (SLIDES / "invalid" / name).read_bytes()
    url, last = tus_upload(app_client, data, case_id=case["id"], filename=name, chunk=max(1, len(data) // 2 + 1))
    assert 400 <= last.status_code < 500, last.text
    body = last.json()
    assert body["error"] in ("unreadable_slide", "unsupported_format") and len(body["detail"]) > 20
    res = app_client.get(f"{url}/result").json()
    assert res["status"] == "rejected" and res["error"] == body["error"] and res["detail"] == body["detail"]
    assert stored_files(storage_root()) == []
    assert slide_count() == 0
    assert "slide.upload_rejected" in audit_actions()
    # HEAD on a finished upload: offset = length, so a resuming client stops and reads the result
    head = app_client.head(url, headers=TUS)
    assert head.headers["Upload-Offset"] == str(len(data)) and head.headers["Glomcheck-Upload-Status"] == "rejected"


def test_corrupt_tile_message_names_the_decoding_failure(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    _, last = tus_upload(app_client, (SLIDES / "invalid" / "corrupt-tile.svs").read_bytes(), case_id=case["id"],
                         filename="corrupt-tile.svs")
    assert last.status_code == 422 and "decode" in last.json()["detail"].lower()


def test_dicom_colours_match_the_svs(app_client: TestClient, users: dict[str, Person], tmp_path: Path) -> None:
    """The DICOM series is CMU-1-Small-Region re-encoded with a header saying RGB over YCbCr frames:
    its tiles must look like the SVS's tiles, not false colours."""
    login(app_client, users["path1"])
    case = new_case(app_client)
    ids = {}
    for name in ("CMU-1-Small-Region.svs", "dicom-cmu1-small"):
        data, filename = upload_source(name, tmp_path)
        _, last = tus_upload(app_client, data, case_id=case["id"], filename=filename)
        ids[name] = int(last.headers["Glomcheck-Slide-Id"])
    dicom = app_client.get(f"/api/slides/{ids['dicom-cmu1-small']}").json()
    assert dicom["format"] == "dicom"
    diffs = []
    for level, col, row in [(12, 0, 0), (11, 1, 1), (10, 0, 0)]:
        a = np.asarray(_jpeg(app_client.get(f"/api/slides/{ids['CMU-1-Small-Region.svs']}/dzi_files/{level}/{col}_{row}.jpeg")), dtype=np.float32)
        b = np.asarray(_jpeg(app_client.get(f"/api/slides/{ids['dicom-cmu1-small']}/dzi_files/{level}/{col}_{row}.jpeg")), dtype=np.float32)
        assert a.shape == b.shape
        diffs.append(float(np.abs(a - b).mean()))
    assert max(diffs) < 12, diffs  # JPEG re-encoding noise only; false colours differ by > 40


def test_tus_options_advertise_protocol(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    r = app_client.options("/api/uploads", headers=TUS)
    assert r.status_code == 204 and r.headers["Tus-Version"] == "1.0.0"
    assert "creation" in r.headers["Tus-Extension"] and int(r.headers["Tus-Max-Size"]) > 0


def test_termination_removes_partial_bytes(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    url = tus_create(app_client, length=1000, case_id=case["id"], filename="x.svs").headers["Location"]
    assert tus_patch(app_client, url, b"II*\x00" + b"0" * 96, 0).status_code == 204
    assert stored_files(storage_root()) != []
    assert app_client.delete(url, headers=TUS).status_code == 204
    assert stored_files(storage_root()) == []
    assert app_client.get(f"{url}/result").json()["status"] == "cancelled"
    assert app_client.head(url, headers=TUS).status_code == 404


def test_method_override_patch(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = (SLIDES / "tiny-16px.svs").read_bytes()
    url = tus_create(app_client, length=len(data), case_id=case["id"], filename="t.svs").headers["Location"]
    r = app_client.post(url, content=data, headers={**TUS, "X-HTTP-Method-Override": "PATCH", "Upload-Offset": "0",
                                                    "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204 and r.headers["Glomcheck-Upload-Status"] == "ready"


def test_metadata_is_required_and_validated(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    base = {**TUS, "Upload-Length": "100"}
    r = app_client.post("/api/uploads", headers={**base, "Upload-Metadata": meta(filename="a.svs")})
    assert r.status_code == 400 and r.json()["error"] == "invalid_metadata"
    r = app_client.post("/api/uploads", headers={**base, "Upload-Metadata": meta(filename="a.svs", case_id=case["id"],
                                                                                 stain="crayon")})
    assert r.status_code == 400 and r.json()["error"] == "invalid_stain"
    r = app_client.post("/api/uploads", headers={**base, "Upload-Metadata": "filename !!!notbase64"})
    assert r.status_code == 400
    r = app_client.post("/api/uploads", headers={"Upload-Length": "100", "Upload-Metadata": meta(filename="a.svs")})
    assert r.status_code == 412 and r.json()["error"] == "tus_version_mismatch"
    r = app_client.post("/api/uploads", headers={**TUS, "Upload-Defer-Length": "1",
                                                 "Upload-Metadata": meta(filename="a.svs", case_id=case["id"])})
    assert r.status_code == 400 and r.json()["error"] == "upload_length_required"
    assert stored_files(storage_root()) == []
