"""Structured report lifecycle, validation, blinded first read and comparison on signing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db.models import Alert, AuditEvent, Case, Comparison, Discrepancy, Report
from app.db.session import session_scope
from tests.conftest import Person, login
from tests.reports.factories import add_ai_results, glomeruli, make_case

DISCORDANT = {"n_glomeruli": 12, "n_cellular_crescent": 0, "C": 0, "h_grade": "I", "M": 0, "E": 0, "S": 0,
              "clinical_diagnosis": "chronic_nephritic", "pathogenesis": "iga_nephropathy",
              "histopathology": "mesangial_proliferative", "free_text": "IgA nephropathy."}
CONCORDANT = {"n_glomeruli": 12, "n_global_sclerosis": 1, "n_cellular_crescent": 4, "M": 0, "E": 0, "S": 0,
              "T": 0, "C": 2, "h_grade": "II", "berden": "focal", "pathogenesis": "iga_nephropathy"}


def crescent_case(inst: int, number: str = "C-1") -> int:
    case_id = make_case(institution_id=inst, number=number)
    add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
    return case_id


def counts() -> dict[str, int]:
    with session_scope() as s:
        return {m.__name__: s.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (Report, Comparison, Discrepancy, Alert)}


def write_report(client: TestClient, case_id: int, values: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"/api/cases/{case_id}/report", json=values)
    assert r.status_code == 201, r.text
    return r.json()


def test_draft_sign_amend_and_signed_versions_are_immutable(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = crescent_case(users["path1"].institution_id)
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, {"n_glomeruli": 12})
    assert rep["status"] == "draft" and rep["version"] == 1
    assert "h_grade" in rep["not_assessed"] and "n_glomeruli" not in rep["not_assessed"]

    r = app_client.put(f"/api/reports/{rep['id']}", json=CONCORDANT)
    assert r.status_code == 200 and r.json()["values"]["h_grade"] == "II"
    r = app_client.post(f"/api/reports/{rep['id']}/sign")
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "concordant" and r.json()["alert_ids"] == []

    before = counts()
    r = app_client.put(f"/api/reports/{rep['id']}", json={**CONCORDANT, "h_grade": "IV"})
    assert r.status_code == 409 and r.json()["error"] == "report_signed"
    assert app_client.post(f"/api/reports/{rep['id']}/sign").json()["error"] == "report_signed"
    assert app_client.post(f"/api/cases/{case_id}/report", json={}).json()["error"] == "report_exists"
    assert counts() == before
    assert app_client.get(f"/api/cases/{case_id}/report").json()["values"]["h_grade"] == "II"

    r = app_client.post(f"/api/reports/{rep['id']}/amend", json={"reason": "recounted crescents"})
    assert r.status_code == 201, r.text
    v2 = r.json()
    assert v2["version"] == 2 and v2["supersedes_id"] == rep["id"] and v2["values"]["h_grade"] == "II"
    # Amending v1 again is refused: it is no longer the latest version.
    assert app_client.post(f"/api/reports/{rep['id']}/amend", json={"reason": "again"}).status_code == 409
    assert app_client.put(f"/api/reports/{v2['id']}", json={**CONCORDANT, "free_text": "amended"}).status_code == 200
    assert app_client.post(f"/api/reports/{v2['id']}/sign").json()["outcome"] == "concordant"
    versions = app_client.get(f"/api/cases/{case_id}/reports").json()
    assert [(v["version"], v["status"]) for v in versions] == [(1, "signed"), (2, "signed")]
    assert versions[0]["values"].get("free_text") is None

    with session_scope() as s:
        actions = set(s.execute(select(AuditEvent.action)).scalars())
    assert {"report.created", "report.updated", "report.signed", "report.amendment_started",
            "comparison.completed", "case.state_changed", "case.viewed"} <= actions


def test_bad_input_is_422_and_changes_nothing(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = crescent_case(users["path1"].institution_id)
    login(app_client, users["path1"])
    before = counts()
    for body, needle in [
        ({"pathogenesis": "not_a_code"}, "unknown pathogenesis code"),
        ({"clinical_diagnosis": "nephrotik"}, "unknown clinical_diagnosis code"),
        ({"n_glomeruli": 10, "n_global_sclerosis": 11}, "exceeds n_glomeruli"),
        ({"n_glomeruli": 10, "n_global_sclerosis": 6, "n_segmental_sclerosis": 5}, "exceed n_glomeruli"),
        ({"h_grade": "V"}, "h_grade"),
        ({"n_glomeruli": -1}, "n_glomeruli"),
        ({"surprise": 1}, "surprise"),
    ]:
        r = app_client.post(f"/api/cases/{case_id}/report", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"] == "validation_error" and needle in r.json()["detail"], r.json()
    assert counts() == before

    rep = write_report(app_client, case_id, {"n_glomeruli": 10})
    r = app_client.put(f"/api/reports/{rep['id']}", json={"n_glomeruli": 10, "n_fibrous_crescent": 12})
    assert r.status_code == 422
    assert app_client.get(f"/api/cases/{case_id}/report").json()["values"]["n_fibrous_crescent"] is None


def test_only_the_author_edits_or_signs_a_draft_and_other_sites_see_nothing(
    app_client: TestClient, users: dict[str, Person]
) -> None:
    case_id = crescent_case(users["path1"].institution_id)
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, DISCORDANT)
    login(app_client, users["path2"])
    assert app_client.put(f"/api/reports/{rep['id']}", json={}).json()["error"] == "not_report_author"
    assert app_client.post(f"/api/reports/{rep['id']}/sign").json()["error"] == "not_report_author"
    login(app_client, users["other"])
    r = app_client.get(f"/api/cases/{case_id}/report")
    assert r.status_code == 404 and r.json()["error"] == "case_not_found"
    assert app_client.put(f"/api/reports/{rep['id']}", json={}).status_code == 404
    login(app_client, users["admin"])
    assert app_client.post(f"/api/cases/{case_id}/report", json={}).json()["error"] == "pathologist_only"
    with session_scope() as s:
        assert s.get(Report, rep["id"]).status == "draft"  # type: ignore[union-attr]


def test_blinded_first_read_hides_ai_results_until_signed(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = crescent_case(users["path1"].institution_id)
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, DISCORDANT)
    for url in (f"/api/cases/{case_id}/assessment", f"/api/cases/{case_id}/comparison"):
        r = app_client.get(url)
        assert r.status_code == 403 and r.json()["error"] == "blinded_first_read", r.text
    login(app_client, users["path2"])  # a colleague must not see it before the first read either
    assert app_client.get(f"/api/cases/{case_id}/assessment").json()["error"] == "blinded_first_read"
    login(app_client, users["admin"])
    assert app_client.get(f"/api/cases/{case_id}/assessment").status_code == 200

    login(app_client, users["path1"])
    assert app_client.post(f"/api/reports/{rep['id']}/sign").status_code == 200
    a = app_client.get(f"/api/cases/{case_id}/assessment")
    assert a.status_code == 200
    body = a.json()
    schemes = {r["scheme"]: r for r in body["results"]}
    assert schemes["oxford_mestc"]["value"]["C"] == 2 and schemes["oxford_mestc"]["value"]["T"] is None
    assert body["rules_version"] and body["model_versions"] == ["classifier:cls-1.0", "detector:det-1.0"]
    assert len(body["evidence"]["cellular_crescent"]) == 4 and body["reliability"]["cellular_crescent"]["reliable"]
    assert app_client.get(f"/api/cases/{case_id}/comparison").status_code == 200


def test_blinded_read_can_be_turned_off_per_institution(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = crescent_case(users["path1"].institution_id)
    login(app_client, users["admin"])
    r = app_client.put(f"/api/admin/institutions/{users['admin'].institution_id}/settings",
                       json={"blinded_first_read": False})
    assert r.status_code == 200 and r.json()["blinded_first_read"] is False
    login(app_client, users["path1"])
    write_report(app_client, case_id, DISCORDANT)
    assert app_client.get(f"/api/cases/{case_id}/assessment").status_code == 200


def test_discordant_report_gives_major_discrepancies_with_evidence(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = crescent_case(users["path1"].institution_id)
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, DISCORDANT)
    r = app_client.post(f"/api/reports/{rep['id']}/sign").json()
    assert r["outcome"] == "discrepant" and len(r["alert_ids"]) == 1
    comp = app_client.get(f"/api/cases/{case_id}/comparison").json()
    by_field = {d["field"]: d for d in comp["discrepancies"]}
    assert set(by_field) == {"n_cellular_crescent", "C", "h_grade"}
    assert all(d["severity"] == "major" and d["reliable"] for d in by_field.values())
    assert by_field["C"]["ai_value"] == 2 and by_field["C"]["pathologist_value"] == 0
    assert len(by_field["C"]["evidence_glomerulus_ids"]) == 4
    assert comp["pairs"]["C"] == {"ai": 2, "pathologist": 0}
    assert comp["pairs"]["adequacy"] == {"ai": "adequate", "pathologist": "adequate"}
    with session_scope() as s:
        assert s.get(Case, case_id).state == "discrepant"  # type: ignore[union-attr]


def test_concordant_report_raises_nothing(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = crescent_case(users["path1"].institution_id)
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, CONCORDANT)
    r = app_client.post(f"/api/reports/{rep['id']}/sign").json()
    assert r["outcome"] == "concordant" and r["alert_ids"] == []
    assert app_client.get(f"/api/cases/{case_id}/comparison").json()["discrepancies"] == []
    with session_scope() as s:
        assert s.get(Case, case_id).state == "concordant"  # type: ignore[union-attr]
        assert s.execute(select(func.count()).select_from(Alert)).scalar_one() == 0


def test_inadequate_biopsy_raises_only_an_adequacy_discrepancy(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = make_case(institution_id=users["path1"].institution_id)
    add_ai_results(case_id=case_id, findings=glomeruli(2, cellular_crescent=3))  # N = 5: inadequate
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, {**DISCORDANT, "n_glomeruli": 10})
    assert app_client.post(f"/api/reports/{rep['id']}/sign").json()["outcome"] == "discrepant"
    comp = app_client.get(f"/api/cases/{case_id}/comparison").json()
    assert [(d["field"], d["severity"], d["ai_value"], d["pathologist_value"]) for d in comp["discrepancies"]] == [
        ("adequacy", "major", "inadequate", "adequate")]


def test_unreliable_findings_are_shown_but_never_alert(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = make_case(institution_id=users["path1"].institution_id)
    add_ai_results(case_id=case_id, card={},  # no model card: fallback thresholds, unknown reliability
                   findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, DISCORDANT)
    r = app_client.post(f"/api/reports/{rep['id']}/sign").json()
    assert r["alert_ids"] == [] and r["outcome"] == "concordant"
    comp = app_client.get(f"/api/cases/{case_id}/comparison").json()
    assert comp["discrepancies"] and {d["severity"] for d in comp["discrepancies"]} == {"info"}
    assert not any(d["reliable"] for d in comp["discrepancies"])


def test_ai_results_after_signing_trigger_the_comparison(app_client: TestClient, users: dict[str, Person]) -> None:
    case_id = make_case(institution_id=users["path1"].institution_id, state="uploaded")
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, DISCORDANT)
    r = app_client.post(f"/api/reports/{rep['id']}/sign").json()
    assert r["comparison_id"] is None and r["outcome"] is None
    assert app_client.get(f"/api/cases/{case_id}/comparison").json()["error"] == "comparison_not_ready"
    add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
    comp = app_client.get(f"/api/cases/{case_id}/comparison").json()
    assert comp["trigger"] == "ai_results" and comp["outcome"] == "discrepant"
    with session_scope() as s:
        assert s.get(Case, case_id).state == "discrepant"  # type: ignore[union-attr]
        assert s.execute(select(func.count()).select_from(Alert)).scalar_one() == 1


def test_vocabulary_lists_three_axes_in_both_languages(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    v = app_client.get("/api/reports/vocabulary").json()
    assert set(v["axes"]) == {"clinical_diagnosis", "pathogenesis", "histopathology"}
    iga = next(t for t in v["axes"]["pathogenesis"]["terms"] if t["code"] == "iga_nephropathy")
    assert iga["ja"] == "IgA腎症" and v["not_assessed"]["ja"]
