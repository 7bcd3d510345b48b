"""Worklist columns (institution, AI state, major discrepancies, open alert) and their filters."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from app.db.models import AnalysisJob, Slide
from app.db.session import get_engine, session_scope
from tests.alerts.test_alerts import discrepant_case
from tests.conftest import Person, login
from tests.reports.factories import add_ai_results, glomeruli, make_case


def _queued_job(case_id: int, *, state: str = "running", progress: float = 0.4) -> int:
    with session_scope() as s:
        slide = s.query(Slide).filter(Slide.case_id == case_id).first()
        assert slide is not None
        job = AnalysisJob(slide_id=slide.id, institution_id=slide.institution_id, state=state, progress=progress,
                          model_versions={}, timings_s={}, result={}, attempts=0, cancel_requested=False)
        s.add(job)
        s.flush()
        return job.id


def _by_id(client: TestClient, **params: Any) -> dict[int, dict[str, Any]]:
    r = client.get("/api/cases", params=params)
    assert r.status_code == 200, r.text
    return {c["id"]: c for c in r.json()["items"]}


def test_worklist_columns_and_filters(app_client: TestClient, users: dict[str, Person]) -> None:
    inst = users["path1"].institution_id
    alert_id = discrepant_case(app_client, users["path1"], "W-MAJOR")  # signed, discrepant, alert to path2
    ai_only = make_case(institution_id=inst, number="W-AI")
    add_ai_results(case_id=ai_only, findings=glomeruli(10))
    running = make_case(institution_id=inst, number="W-RUN")
    add_ai_results(case_id=running, findings=glomeruli(10))
    _queued_job(running, state="running", progress=0.4)
    bare = make_case(institution_id=inst, number="W-NONE", state="uploaded")
    make_case(institution_id=users["other"].institution_id, number="W-OTHER")

    login(app_client, users["path1"])
    cases = _by_id(app_client)
    assert len(cases) == 4
    major = next(c for c in cases.values() if c["number"] == "W-MAJOR")
    assert major["institution_name"] and major["updated_at"]
    assert major["major_discrepancies"] >= 1
    assert major["open_alert"] == {"id": alert_id, "state": "open", "assignee_id": users["path2"].id,
                                   "assignee_name": major["open_alert"]["assignee_name"]}
    assert major["open_alert"]["assignee_name"]
    assert major["ai_state"]["state"] == "succeeded"
    assert cases[ai_only]["ai_state"]["state"] == "succeeded" and cases[ai_only]["major_discrepancies"] == 0
    assert cases[ai_only]["open_alert"] is None
    assert cases[running]["ai_state"] == {"state": "running", "progress": 0.4}
    assert cases[bare]["ai_state"] == {"state": "none", "progress": None}

    assert set(_by_id(app_client, ai_state="running")) == {running}
    assert set(_by_id(app_client, ai_state="none")) == {bare}
    assert set(_by_id(app_client, ai_state="succeeded")) == {ai_only, major["id"]}
    assert set(_by_id(app_client, has_major=True)) == {major["id"]}
    assert set(_by_id(app_client, has_major=False)) == {ai_only, running, bare}
    assert app_client.get("/api/cases", params={"ai_state": "bogus"}).status_code == 422
    assert app_client.get("/api/cases", params={"has_major": "true", "ai_state": "none"}).json()["total"] == 0

    detail = app_client.get(f"/api/cases/{major['id']}").json()
    assert detail["open_alert"]["id"] == alert_id and detail["major_discrepancies"] == major["major_discrepancies"]
    assert detail["institution_name"] == major["institution_name"]
    assert app_client.get(f"/api/cases/{running}").json()["ai_state"]["state"] == "running"

    # The alert resolved: no open alert any more.
    login(app_client, users["path2"])
    assert app_client.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 200
    assert app_client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "ai_error"}).status_code == 200
    login(app_client, users["path1"])
    assert _by_id(app_client)[major["id"]]["open_alert"] is None


def test_list_query_count_does_not_grow_with_cases(app_client: TestClient, users: dict[str, Person]) -> None:
    inst = users["path1"].institution_id
    login(app_client, users["path1"])

    def statements() -> int:
        seen: list[str] = []

        def on_exec(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
            seen.append(statement)

        engine = get_engine()
        event.listen(engine, "before_cursor_execute", on_exec)
        try:
            assert app_client.get("/api/cases").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", on_exec)
        return len(seen)

    for i in range(2):
        add_ai_results(case_id=make_case(institution_id=inst, number=f"Q-{i}"), findings=glomeruli(8))
    few = statements()
    for i in range(2, 12):
        add_ai_results(case_id=make_case(institution_id=inst, number=f"Q-{i}"), findings=glomeruli(8))
    assert statements() == few
