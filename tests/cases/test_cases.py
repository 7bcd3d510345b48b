"""Cases: pseudonymous numbering per institution, listing with filters, detail, scoping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.conftest import DbUnderTest, Person, login
from tests.uploads.helpers import SLIDES, audit_actions, new_case, put_upload


def test_numbers_are_sequential_per_institution(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    year = datetime.now(UTC).year
    a, b = new_case(app_client), new_case(app_client)
    assert a["number"] == f"H1-{year}-0001" and b["number"] == f"H1-{year}-0002"
    assert a["state"] == "uploaded" and a["slide_count"] == 0 and a["stains"] == []
    other = TestClient(app_client.app)
    login(other, users["other"])
    assert new_case(other)["number"] == f"H2-{year}-0001"
    assert "case.created" in audit_actions()


def test_list_filters_and_slide_stats(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    a, b = new_case(app_client), new_case(app_client)
    for name, stain in (("tiny-16px.svs", "pas"), ("generic-tiled-boxes.tiff", "he")):
        assert put_upload(app_client, (SLIDES / name).read_bytes(), case_id=a["id"], filename=name,
                          stain=stain).status_code == 201
    other = TestClient(app_client.app)
    login(other, users["other"])
    new_case(other)

    listing = app_client.get("/api/cases").json()
    assert listing["total"] == 2 and [c["id"] for c in listing["items"]] == [b["id"], a["id"]]
    by_id = {c["id"]: c for c in listing["items"]}
    assert by_id[a["id"]]["slide_count"] == 2 and by_id[a["id"]]["stains"] == ["he", "pas"]
    assert by_id[b["id"]]["slide_count"] == 0
    assert app_client.get("/api/cases", params={"q": a["number"][-4:]}).json()["total"] == 1
    assert app_client.get("/api/cases", params={"q": "%"}).json()["total"] == 0
    # The case with stored (de-identified) slides has moved on; the empty one has not.
    assert [c["id"] for c in app_client.get("/api/cases", params={"state": "uploaded"}).json()["items"]] == [b["id"]]
    assert [c["id"] for c in app_client.get("/api/cases", params={"state": "deidentified"}).json()["items"]] == [a["id"]]
    assert app_client.get("/api/cases", params={"state": "resolved"}).json()["total"] == 0
    assert app_client.get("/api/cases", params={"state": "bogus"}).status_code == 422
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert app_client.get("/api/cases", params={"created_from": future}).json()["total"] == 0
    assert app_client.get("/api/cases", params={"created_from": past, "created_to": future}).json()["total"] == 2
    assert app_client.get("/api/cases", params={"limit": 1}).json()["items"][0]["id"] == b["id"]


def test_detail_with_slides_is_audited_and_scoped(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    put_upload(app_client, (SLIDES / "tiny-16px.svs").read_bytes(), case_id=case["id"], filename="t.svs", stain="pam")
    d = app_client.get(f"/api/cases/{case['id']}").json()
    assert d["slide_count"] == 1 and d["stains"] == ["pam"]
    s = d["slides"][0]
    assert s["width"] == 16 and s["dzi_url"].endswith("/dzi") and s["stain"] == "pam"
    assert "case.viewed" in audit_actions()
    other = TestClient(app_client.app)
    login(other, users["other"])
    r = other.get(f"/api/cases/{case['id']}")
    assert r.status_code == 404 and r.json()["error"] == "case_not_found"
    assert app_client.get("/api/cases/999999").status_code == 404


def test_concurrent_creation_never_reuses_a_number(pg: DbUnderTest) -> None:
    """PostgreSQL: the institution row is locked by the counter UPDATE, so numbers stay unique."""
    from app.cases.service import create_case
    from app.db.models import User
    from app.db.session import session_scope
    from tests.conftest import make_user

    uid = make_user("p@h1.example").id
    numbers: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                with session_scope() as s:
                    user = s.get(User, uid)
                    assert user is not None
                    numbers.append(create_case(s, user=user).number)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(numbers) == 30 and len(set(numbers)) == 30
