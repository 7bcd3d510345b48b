"""Slide metadata, images, ETags, stain changes, admin deletion, the reader cache and local ingest."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Person, login
from tests.uploads.helpers import SLIDES, audit_actions, new_case, put_upload, storage_root, stored_files


def _slide(client: TestClient, name: str = "CMU-1-Small-Region.svs") -> int:
    case = new_case(client)
    r = put_upload(client, (SLIDES / name).read_bytes(), case_id=case["id"], filename=name)
    assert r.status_code == 201, r.text
    return int(r.json()["slide_id"])


def test_metadata_and_view_is_audited(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    sid = _slide(app_client)
    m = app_client.get(f"/api/slides/{sid}").json()
    assert m["format"] == "aperio" and m["level_dimensions"] == [[2220, 2967]]
    assert m["objective_power"] == 20 and m["tile_size"] == 254 and m["tile_overlap"] == 1
    assert m["dzi_url"] == f"/api/slides/{sid}/dzi" and m["thumbnail_url"].endswith("thumbnail.jpg")
    assert "slide.viewed" in audit_actions()


def test_etag_and_304(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    sid = _slide(app_client)
    for url in (f"/api/slides/{sid}/dzi_files/11/1_1.jpeg", f"/api/slides/{sid}/thumbnail.jpg?max=200",
                f"/api/slides/{sid}/dzi"):
        r = app_client.get(url)
        assert r.status_code == 200
        etag = r.headers["etag"]
        assert not etag.startswith("W/") and "private" in r.headers["cache-control"]
        again = app_client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert app_client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    a = app_client.get(f"/api/slides/{sid}/dzi_files/11/1_1.jpeg").headers["etag"]
    b = app_client.get(f"/api/slides/{sid}/dzi_files/11/0_1.jpeg").headers["etag"]
    assert a != b


def test_associated_images(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    sid = _slide(app_client)
    names = app_client.get(f"/api/slides/{sid}").json()["associated_images"]
    # de-identification (when installed) removes label and macro; the thumbnail stays
    assert "thumbnail" in names
    for n in names:
        r = app_client.get(f"/api/slides/{sid}/associated/{n}.jpg")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert app_client.get(f"/api/slides/{sid}/associated/nope.jpg").json()["error"] == "associated_not_found"


def test_thumbnail_size_bounds(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    sid = _slide(app_client)
    assert app_client.get(f"/api/slides/{sid}/thumbnail.jpg?max=5000").status_code == 422
    assert app_client.get(f"/api/slides/{sid}/thumbnail.jpg?max=64").status_code == 200
    assert app_client.get("/api/slides/999999/thumbnail.jpg").json()["error"] == "slide_not_found"


def test_patch_stain(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    sid = _slide(app_client)
    r = app_client.patch(f"/api/slides/{sid}", json={"stain": "mt"})
    assert r.status_code == 200 and r.json()["stain"] == "mt"
    assert app_client.patch(f"/api/slides/{sid}", json={"stain": "crayon"}).status_code == 422
    assert "slide.stain_changed" in audit_actions()


def test_delete_is_admin_only_and_removes_files(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    sid = _slide(app_client)
    assert app_client.get(f"/api/slides/{sid}/dzi_files/12/0_0.jpeg").status_code == 200  # reader now cached
    assert app_client.delete(f"/api/slides/{sid}").status_code == 403
    assert stored_files(storage_root())
    admin = TestClient(app_client.app)
    login(admin, users["admin"])
    assert admin.delete(f"/api/slides/{sid}").status_code == 204
    assert stored_files(storage_root()) == []
    assert admin.get(f"/api/slides/{sid}").status_code == 404
    assert "slide.deleted" in audit_actions()


def test_reader_cache_is_bounded_and_closes_evicted_readers() -> None:
    from app.slides.cache import ReaderCache

    cache = ReaderCache(2)
    paths = [SLIDES / "tiny-16px.svs", SLIDES / "generic-tiled-boxes.tiff", SLIDES / "CMU-1-Small-Region.svs"]
    with cache.reader(1, paths[0], {}) as first:
        # while borrowed, eviction must not close it under the borrower
        with cache.reader(2, paths[1], {}), cache.reader(3, paths[2], {}):
            pass
        assert len(cache) == 2 and first.evicted
        first.reader.read_region((0, 0), 0, (4, 4))
    with pytest.raises(Exception):
        first.reader.read_region((0, 0), 0, (4, 4))  # closed once released
    with cache.reader(3, paths[2], {}):
        pass
    assert cache.hits == 1
    cache.evict(3)
    assert len(cache) == 1
    cache.clear()
    assert len(cache) == 0


def test_reader_cache_is_thread_safe() -> None:
    from app.slides.cache import ReaderCache

    cache = ReaderCache(2)
    paths = [SLIDES / "tiny-16px.svs", SLIDES / "generic-tiled-boxes.tiff", SLIDES / "CMU-1-Small-Region.svs"]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(30):
                k = (i + j) % 3
                with cache.reader(k, paths[k], {}) as e:
                    dz = cache.deepzoom(e, tile_size=254, overlap=1)
                    dz.get_tile(dz.level_count - 1, (0, 0))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) <= 2


@pytest.mark.parametrize("source", ["CMU-1-Small-Region.svs", "dicom-cmu1-small"])
def test_ingest_local_file_for_the_cli(db: object, users: dict[str, Person], source: str) -> None:
    from app.db.models import Case, User
    from app.db.session import session_scope
    from app.slides.ingest import ingest_local_file

    with session_scope() as s:
        user = s.get(User, users["path1"].id)
        assert user is not None
        from app.cases.service import create_case

        case = s.get(Case, create_case(s, user=user).id)
        assert case is not None
        slide = ingest_local_file(s, case=case, path=SLIDES / source, stain="pas", user_id=user.id,
                                  display_name="demo")
        again = ingest_local_file(s, case=case, path=SLIDES / source, stain="pas", user_id=user.id)
        assert again.id == slide.id and slide.display_name == "demo"
        assert (storage_root() / slide.open_path).is_file()
    assert (SLIDES / source).exists()  # the source is copied, not moved
    assert [f for f in stored_files(storage_root()) if not f.startswith("slides/")] == []


def test_ingest_local_file_rejects_and_cleans(db: object, users: dict[str, Person], tmp_path: Path) -> None:
    from app.db.models import Case, User
    from app.db.session import session_scope
    from app.errors import DomainError
    from app.slides.ingest import ingest_local_file

    bad = tmp_path / "bad.svs"
    bad.write_text("not a slide")
    with session_scope() as s:
        user = s.get(User, users["path1"].id)
        assert user is not None
        from app.cases.service import create_case

        case = s.get(Case, create_case(s, user=user).id)
        with pytest.raises(DomainError) as exc:
            ingest_local_file(s, case=case, path=bad, stain="pas", user_id=user.id)  # type: ignore[arg-type]
        assert exc.value.status_code == 415
    assert stored_files(storage_root()) == [] and bad.exists()
