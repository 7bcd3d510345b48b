"""GET /api/cases/{id}/history: the case's audit trail, scoped, newest first, blind to AI results."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.analysis.factories import make_slide
from tests.conftest import Person, login, set_blinded_read
from tests.worker import fake_pipeline
from worker import jobs


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.celery_app

    monkeypatch.setattr(worker.celery_app, "send_analyze", lambda job_id: None)


def _history(client: TestClient, case_id: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/cases/{case_id}/history")
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _analysed_case(client: TestClient, users: dict[str, Person]) -> tuple[int, int]:
    slide = make_slide(users["path1"])
    login(client, users["path1"])
    r = client.post(f"/api/slides/{slide.id}/analyze")
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert jobs.run_job(job_id, pipeline=fake_pipeline.analyze) is jobs.Outcome.succeeded
    return slide.case_id, job_id


def test_history_lists_case_slide_and_job_events_newest_first(app_client: TestClient,
                                                              users: dict[str, Person]) -> None:
    case_id, job_id = _analysed_case(app_client, users)
    other_case, _ = _analysed_case(app_client, users)
    items = _history(app_client, case_id)
    ids = [e["id"] for e in items]
    assert ids == sorted(ids, reverse=True)
    actions = [e["action"] for e in items]
    assert {"analysis.requested", "analysis.started", "analysis.succeeded", "case.state_changed"} <= set(actions)
    requested = next(e for e in items if e["action"] == "analysis.requested")
    assert requested["object_type"] == "analysis_job" and requested["object_id"] == str(job_id)
    assert requested["actor_user_id"] == users["path1"].id and requested["actor_name"]
    assert set(items[0]) == {"id", "ts", "action", "actor_user_id", "actor_name", "object_type", "object_id",
                             "details"}
    # Nothing of the other case.
    assert all(e["details"].get("case_id") in (None, case_id) for e in items)
    assert all(not (e["object_type"] == "case" and e["object_id"] == str(other_case)) for e in items)


def test_history_hides_ai_results_from_a_blinded_reader(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id, _ = _analysed_case(app_client, users)
    succeeded = next(e for e in _history(app_client, case_id) if e["action"] == "analysis.succeeded")
    assert "n_glomeruli" not in succeeded["details"] and "models" not in succeeded["details"]
    assert succeeded["details"]["ai_details_hidden"] is True and "slide_id" in succeeded["details"]
    computed = [e for e in _history(app_client, case_id) if e["action"] == "assessment.computed"]
    assert all("model_versions" not in e["details"] for e in computed)

    login(app_client, users["admin"])  # admins write no report, so they may see the AI
    succeeded = next(e for e in _history(app_client, case_id) if e["action"] == "analysis.succeeded")
    assert succeeded["details"]["n_glomeruli"] == fake_pipeline.N_GLOMERULI

    set_blinded_read(users["path1"].institution_id, False)
    login(app_client, users["path2"])
    succeeded = next(e for e in _history(app_client, case_id) if e["action"] == "analysis.succeeded")
    assert succeeded["details"]["n_glomeruli"] == fake_pipeline.N_GLOMERULI
    assert "ai_details_hidden" not in succeeded["details"]


def test_history_of_another_institution_is_404(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id, _ = _analysed_case(app_client, users)
    login(app_client, users["other"])
    r = app_client.get(f"/api/cases/{case_id}/history")
    assert r.status_code == 404 and r.json()["error"] == "case_not_found"
    assert app_client.get("/api/cases/999999/history").status_code == 404
    anonymous = TestClient(app_client.app)
    assert anonymous.get(f"/api/cases/{case_id}/history").status_code == 401


def test_history_includes_report_comparison_and_alert_events(app_client: TestClient, users: dict[str, Person]) -> None:
    from tests.alerts.test_alerts import alert_row, discrepant_case

    alert_id = discrepant_case(app_client, users["path1"], "H-1")
    case_id = alert_row(alert_id).case_id
    items = _history(app_client, case_id)
    by_action = {e["action"]: e for e in items}
    assert {"report.created", "comparison.completed", "alert.opened"} <= set(by_action)
    assert by_action["alert.opened"]["object_id"] == str(alert_id)
    # Signed: the AI is visible again, so assessment details are whole.
    assert "model_versions" in by_action["assessment.computed"]["details"]
