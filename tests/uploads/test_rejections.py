"""Bad input gets a clear 4xx JSON answer (never a 500) and leaves no file and no slide row behind."""

from __future__ import annotations

import io
import socket
import stat
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from tests.conftest import Person, login
from tests.uploads.helpers import (
    SLIDES,
    TUS,
    meta,
    new_case,
    put_upload,
    slide_count,
    storage_root,
    stored_files,
    tus_create,
    tus_patch,
    tus_upload,
    zip_folder,
)


def _assert_clean() -> None:
    assert stored_files(storage_root()) == []
    assert slide_count() == 0


def _zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _refused(r: httpx.Response, status: int, error: str | None = None) -> dict[str, str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"error", "detail"} and body["detail"]
    if error:
        assert body["error"] == error, body
    return body


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from app.config import get_settings

    monkeypatch.setenv("GLOMCHECK_MAX_UPLOAD_BYTES", "5000000")
    monkeypatch.setenv("GLOMCHECK_MAX_ZIP_MEMBERS", "20")
    monkeypatch.setenv("GLOMCHECK_MAX_UNZIPPED_BYTES", "8000000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_zero_byte_file(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    body = _refused(tus_create(app_client, length=0, case_id=case["id"], filename="empty.svs"), 400, "empty_file")
    assert "empty" in body["detail"]
    _refused(put_upload(app_client, b"", case_id=case["id"], filename="empty.svs"), 400, "empty_file")
    _assert_clean()


def test_text_renamed_svs(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    text = b"Patient: Jane Doe\nThis is not a slide.\n" * 50
    _, last = tus_upload(app_client, text, case_id=case["id"], filename="slide.svs")
    body = _refused(last, 415, "unsupported_format")
    assert "plain text" in body["detail"]
    _refused(put_upload(app_client, text, case_id=case["id"], filename="slide.svs"), 415, "unsupported_format")
    _refused(put_upload(app_client, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, case_id=case["id"], filename="x.svs"), 415)
    _assert_clean()


def test_declared_length_over_limit_is_refused_before_storing(
    app_client: TestClient, users: dict[str, Person], limits: None
) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    body = _refused(tus_create(app_client, length=5_000_001, case_id=case["id"], filename="big.svs"), 413,
                    "file_too_large")
    assert "limit" in body["detail"]
    r = app_client.put(f"/api/cases/{case['id']}/slides", params={"filename": "big.svs"}, content=b"x" * 5_000_001,
                       headers={"Content-Type": "application/octet-stream"})
    _refused(r, 413, "file_too_large")

    def chunked() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for _ in range(6):
            yield b"y" * 1_000_000

    r = app_client.put(f"/api/cases/{case['id']}/slides", params={"filename": "big.svs"}, content=chunked(),
                       headers={"Content-Type": "application/octet-stream"})
    _refused(r, 413, "file_too_large")
    # a PATCH body longer than the declared length is refused and not kept
    url = tus_create(app_client, length=100, case_id=case["id"], filename="a.svs").headers["Location"]
    _refused(tus_patch(app_client, url, b"z" * 200, 0), 400, "exceeds_upload_length")
    assert app_client.head(url, headers=TUS).headers["Upload-Offset"] == "0"
    app_client.delete(url, headers=TUS)
    _assert_clean()


@pytest.mark.parametrize("name", ["../../etc/passwd.svs", "a/b.svs", "..\\x.svs", "..", "x\x00.svs", "\n.svs"])
def test_path_tricks_in_file_names(app_client: TestClient, users: dict[str, Person], name: str) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    _refused(tus_create(app_client, length=10, case_id=case["id"], filename=name), 400, "invalid_filename")
    _refused(put_upload(app_client, b"II*\x00" * 10, case_id=case["id"], filename=name), 400, "invalid_filename")
    _assert_clean()


def _symlink_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("series/level-0.dcm")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("case_name", "payload", "status", "error"),
    [
        ("dotdot", lambda: _zip({"../evil.dcm": b"x"}), 400, "unsafe_archive"),
        ("nested-dotdot", lambda: _zip({"a/../../evil.dcm": b"x"}), 400, "unsafe_archive"),
        ("absolute", lambda: _zip({"/tmp/evil.dcm": b"x"}), 400, "unsafe_archive"),
        ("windows-drive", lambda: _zip({"C:\\evil.dcm": b"x"}), 400, "unsafe_archive"),
        ("symlink", _symlink_zip, 400, "unsafe_archive"),
        ("bomb", lambda: _zip({"level.dcm": b"\0" * 30_000_000}, compression=zipfile.ZIP_DEFLATED), 413, "zip_bomb"),
        ("empty-zip", lambda: _zip({}), 422, "no_slide_in_zip"),
        ("no-slide", lambda: _zip({"readme.txt": b"hello"}), 422, "no_slide_in_zip"),
        ("mrxs-without-folder", lambda: _zip({"s.mrxs": b"[GENERAL]"}), 422, "mrxs_incomplete"),
        ("damaged", lambda: b"PK\x03\x04" + b"\0" * 200, 422, "bad_zip"),
    ],
)
def test_unsafe_or_useless_zips(app_client: TestClient, users: dict[str, Person], case_name: str,
                                payload: object, status: int, error: str) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = payload()  # type: ignore[operator]
    _, last = tus_upload(app_client, data, case_id=case["id"], filename=f"{case_name}.zip")
    _refused(last, status, error)
    _refused(put_upload(app_client, data, case_id=case["id"], filename=f"{case_name}.zip",
                        content_type="application/zip"), status, error)
    _assert_clean()
    assert not (storage_root().parent / "evil.dcm").exists()


def test_zip_limits_members_and_unpacked_size(
    app_client: TestClient, users: dict[str, Person], limits: None
) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    many = _zip({f"f{i}.dcm": b"x" for i in range(21)})
    _refused(put_upload(app_client, many, case_id=case["id"], filename="many.zip"), 400, "zip_too_many_members")
    # 9 MB of random-ish data: no suspicious ratio, but more than max_unzipped_bytes
    import os

    big = _zip({"a.bin": os.urandom(4_500_000), "b.bin": os.urandom(4_500_000)}, compression=zipfile.ZIP_DEFLATED)
    _refused(put_upload(app_client, big, case_id=case["id"], filename="big.zip"), 413)
    _assert_clean()


def test_wrong_content_type(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = (SLIDES / "tiny-16px.svs").read_bytes()
    url = tus_create(app_client, length=len(data), case_id=case["id"], filename="t.svs").headers["Location"]
    r = tus_patch(app_client, url, data, 0, **{"Content-Type": "application/json"})
    _refused(r, 415, "unsupported_media_type")
    assert app_client.head(url, headers=TUS).headers["Upload-Offset"] == "0"  # nothing was stored
    r = app_client.put(f"/api/cases/{case['id']}/slides", params={"filename": "t.svs"},
                       files={"file": ("t.svs", data)})
    _refused(r, 415, "unsupported_media_type")
    app_client.delete(url, headers=TUS)
    _assert_clean()


def test_no_session_is_401_everywhere(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = (SLIDES / "tiny-16px.svs").read_bytes()
    url, last = tus_upload(app_client, data, case_id=case["id"], filename="t.svs")
    sid = last.headers["Glomcheck-Slide-Id"]
    pending = tus_create(app_client, length=10, case_id=case["id"], filename="p.svs").headers["Location"]
    anon = TestClient(app_client.app)
    calls = [
        anon.options("/api/uploads", headers=TUS),
        anon.post("/api/uploads", headers={**TUS, "Upload-Length": "10",
                                           "Upload-Metadata": meta(filename="a.svs", case_id=case["id"])}),
        anon.head(pending, headers=TUS),
        tus_patch(anon, pending, b"0123456789", 0),
        anon.delete(pending, headers=TUS),
        anon.get(f"{url}/result"),
        put_upload(anon, data, case_id=case["id"], filename="t.svs"),
        anon.get("/api/cases"),
        anon.post("/api/cases"),
        anon.get(f"/api/cases/{case['id']}"),
        anon.get(f"/api/slides/{sid}"),
        anon.get(f"/api/slides/{sid}/thumbnail.jpg"),
        anon.get(f"/api/slides/{sid}/dzi"),
        anon.get(f"/api/slides/{sid}/dzi_files/0/0_0.jpeg"),
        anon.patch(f"/api/slides/{sid}", json={"stain": "he"}),
        anon.delete(f"/api/slides/{sid}"),
    ]
    for r in calls:
        if r.request.method == "HEAD":
            assert r.status_code == 401
        else:
            _refused(r, 401, "not_authenticated")
    assert app_client.head(pending, headers=TUS).headers["Upload-Offset"] == "0"


def test_other_institution_gets_404(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = (SLIDES / "tiny-16px.svs").read_bytes()
    url, last = tus_upload(app_client, data, case_id=case["id"], filename="t.svs")
    sid = last.headers["Glomcheck-Slide-Id"]
    pending = tus_create(app_client, length=len(data), case_id=case["id"], filename="p.svs").headers["Location"]
    other = TestClient(app_client.app)
    login(other, users["other"])
    for r in [
        other.get(f"/api/cases/{case['id']}"),
        other.get(f"/api/slides/{sid}"),
        other.get(f"/api/slides/{sid}/thumbnail.jpg"),
        other.get(f"/api/slides/{sid}/dzi"),
        other.get(f"/api/slides/{sid}/dzi_files/0/0_0.jpeg"),
        other.get(f"/api/slides/{sid}/associated/thumbnail.jpg"),
        other.patch(f"/api/slides/{sid}", json={"stain": "he"}),
        other.get(f"{url}/result"),
        tus_patch(other, pending, data, 0),
        tus_create(other, length=len(data), case_id=case["id"], filename="x.svs"),
        put_upload(other, data, case_id=case["id"], filename="x.svs"),
    ]:
        _refused(r, 404)
    assert other.head(pending, headers=TUS).status_code == 404
    assert other.get("/api/cases").json()["total"] == 0
    # a colleague at the same institution sees the case but not someone else's upload receipt
    colleague = TestClient(app_client.app)
    login(colleague, users["path2"])
    assert colleague.get(f"/api/cases/{case['id']}").status_code == 200
    assert colleague.get(f"{url}/result").status_code == 404


def test_put_upload_ready_then_duplicate(app_client: TestClient, users: dict[str, Person], tmp_path: Path) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    data = zip_folder(SLIDES / "dicom-cmu1-small", tmp_path / "d.zip").read_bytes()
    r = put_upload(app_client, data, case_id=case["id"], filename="d.zip", stain="he", content_type="application/zip")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "ready" and first["slide_id"]
    r = app_client.post(f"/api/cases/{case['id']}/slides", params={"filename": "again.zip"}, content=data,
                        headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json()["status"] == "duplicate" and r.json()["slide_id"] == first["slide_id"]
    assert slide_count() == 1
    assert [f for f in stored_files(storage_root()) if not f.startswith("slides/")] == []


# -- a real server, a real dropped connection ------------------------------------------------------
@pytest.fixture
def live_server(app_client: TestClient) -> Iterator[str]:
    config = uvicorn.Config(app_client.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    t.join(10)


def test_connection_dropped_mid_patch_then_resumed(live_server: str, users: dict[str, Person]) -> None:
    data = (SLIDES / "ndpi-fluorescence-dapi.ndpi").read_bytes()
    with httpx.Client(base_url=live_server) as c:
        r = c.post("/api/auth/login", json={"email": users["path1"].email, "password": users["path1"].password})
        token = r.cookies["glomcheck_session"]
        case = c.post("/api/cases").json()
        url = tus_create(c, length=len(data), case_id=case["id"], filename="n.ndpi").headers["Location"]  # type: ignore[arg-type]
        path = httpx.URL(url).path
        # send headers for the whole file, then only a part of the body, then drop the connection
        port = int(live_server.rsplit(":", 1)[1])
        sent = 1_500_000
        with socket.create_connection(("127.0.0.1", port)) as sock:
            head = (f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                    f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                    f"Content-Length: {len(data)}\r\nCookie: glomcheck_session={token}\r\n\r\n")
            sock.sendall(head.encode() + data[:sent])
            time.sleep(0.3)
        offset = -1
        for _ in range(100):  # the server notices the drop, keeps what arrived, releases the lock
            h = c.head(path, headers=TUS)
            offset = int(h.headers["Upload-Offset"])
            if offset == sent:
                break
            time.sleep(0.05)
        assert offset == sent
        for _ in range(50):
            r = tus_patch(c, path, data[offset:], offset)  # type: ignore[arg-type]
            if r.status_code != 423:
                break
            time.sleep(0.1)
        assert r.status_code == 204 and r.headers["Glomcheck-Upload-Status"] == "ready", r.text
        sid = r.headers["Glomcheck-Slide-Id"]
        assert c.get(f"/api/slides/{sid}").json()["sha256"] == __import__("hashlib").sha256(data).hexdigest()
