"""Case states driven by ingest and analysis: uploaded → deidentified → analyzing (DOMAIN.md §1)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import AuditEvent
from app.db.session import session_scope
from tests.conftest import Person, login
from tests.uploads.helpers import SLIDES, new_case, put_upload


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.celery_app

    monkeypatch.setattr(worker.celery_app, "send_analyze", lambda job_id: None)


def _transitions(case_id: int) -> list[tuple[str, str]]:
    with session_scope() as s:
        evs = s.execute(select(AuditEvent).where(AuditEvent.action == "case.state_changed",
                                                 AuditEvent.object_id == str(case_id)).order_by(AuditEvent.id))
        return [(e.details["from"], e.details["to"]) for e in evs.scalars()]


def test_upload_deidentifies_then_analysis_moves_on(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    case = new_case(app_client)
    assert case["state"] == "uploaded"
    data = (SLIDES / "CMU-1-Small-Region.svs").read_bytes()
    r = put_upload(app_client, data, case_id=case["id"], filename="x.svs", stain="pas")
    assert r.status_code == 201, r.text
    detail = app_client.get(f"/api/cases/{case['id']}").json()
    assert detail["state"] == "deidentified"
    # A second slide (and a duplicate) leave the state and the audit trail alone.
    put_upload(app_client, (SLIDES / "tiny-16px.svs").read_bytes(), case_id=case["id"], filename="t.svs", stain="he")
    put_upload(app_client, data, case_id=case["id"], filename="x.svs", stain="pas")
    assert _transitions(case["id"]) == [("uploaded", "deidentified")]

    slide_id = next(s["id"] for s in detail["slides"])
    assert app_client.post(f"/api/slides/{slide_id}/analyze").status_code == 202
    assert app_client.get(f"/api/cases/{case['id']}").json()["state"] == "analyzing"
    job = app_client.get(f"/api/slides/{slide_id}/jobs").json()[0]
    assert app_client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    # Cancelled before any result: back to where analysis found it.
    assert app_client.get(f"/api/cases/{case['id']}").json()["state"] == "deidentified"
    assert _transitions(case["id"]) == [("uploaded", "deidentified"), ("deidentified", "analyzing"),
                                        ("analyzing", "deidentified")]
