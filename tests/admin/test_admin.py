"""Admin API: settings (and recomputation), users, institutions, audit log, discrepancy list, scoping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from app.audit import service as audit_service
from app.audit.service import verify_chain
from app.db.models import AuditEvent, CaseAssessment, Institution
from app.db.session import get_engine, session_scope
from tests.conftest import Person, login, make_user
from tests.reports.factories import add_ai_results, glomeruli, make_case
from tests.reports.test_reports import DISCORDANT, write_report


def test_settings_change_is_validated_audited_and_recomputes(app_client: TestClient, users: dict[str, Person]) -> None:
    inst = users["admin"].institution_id
    case_id = make_case(institution_id=inst)
    # 9 glomeruli, 2 crescents (22 %): C1 by default, C2 once the C2 threshold drops to 20 %.
    add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=2))
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, {"n_glomeruli": 9, "n_cellular_crescent": 2, "C": 1})
    assert app_client.post(f"/api/reports/{rep['id']}/sign").json()["outcome"] == "concordant"

    login(app_client, users["admin"])
    url = f"/api/admin/institutions/{inst}/settings"
    assert app_client.get(url).json()["effective"]["mestc_c2_percent"] == 25.0
    with session_scope() as s:
        n_before = s.execute(select(func.count()).select_from(CaseAssessment)).scalar_one()
    for bad in ({"assessment": {"no_such_threshold": 1}}, {"assessment": {"mestc_c2_percent": 120}},
                {"assessment": {"h_grade_cutoffs": [50, 25, 75]}}, {"colour": "red"}):
        r = app_client.put(url, json=bad)
        assert r.status_code == 422, r.text
    assert app_client.get(url).json()["overrides"] == {}

    r = app_client.put(url, json={"assessment": {"mestc_c2_percent": 20}})
    assert r.status_code == 200, r.text
    assert r.json()["effective"]["mestc_c2_percent"] == 20 and r.json()["recomputed_case_ids"] == [case_id]
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(CaseAssessment)).scalar_one() == n_before + 1
    a = app_client.get(f"/api/cases/{case_id}/assessment").json()
    assert a["trigger"] == "settings_changed" and a["config"]["mestc_c2_percent"] == 20
    mestc = next(x for x in a["results"] if x["scheme"] == "oxford_mestc")
    assert mestc["value"]["C"] == 2
    comp = app_client.get(f"/api/cases/{case_id}/comparison").json()
    assert comp["trigger"] == "settings_changed" and [d["field"] for d in comp["discrepancies"]] == ["C"]

    # A site admin cannot touch another institution.
    other = users["other"].institution_id
    assert app_client.put(f"/api/admin/institutions/{other}/settings", json={}).status_code == 403
    assert app_client.get(f"/api/admin/discrepancies?institution_id={other}").status_code == 403
    login(app_client, users["path1"])
    assert app_client.get(url).status_code == 403
    with session_scope() as s:
        assert s.execute(select(AuditEvent).where(AuditEvent.action == "admin.settings_changed")).first()


def test_users_and_institutions(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["admin"])
    emails = {u["email"] for u in app_client.get("/api/admin/users").json()}
    assert emails == {"path1@h1.example", "path2@h1.example", "admin@h1.example"}
    r = app_client.post("/api/admin/users", json={"email": "new@h1.example", "password": "long-enough-1"})
    assert r.status_code == 201 and r.json()["institution_id"] == users["admin"].institution_id
    new_id = r.json()["id"]
    r = app_client.post("/api/admin/users", json={"email": "x@h2.example", "password": "long-enough-1",
                                                   "institution_id": users["other"].institution_id})
    assert r.status_code == 403
    r = app_client.post("/api/admin/users", json={"email": "y@h1.example", "password": "long-enough-1",
                                                   "role": "network_admin"})
    assert r.status_code == 403 and r.json()["error"] == "network_admin_only"
    assert app_client.patch(f"/api/admin/users/{new_id}", json={"is_active": False}).json()["is_active"] is False
    assert app_client.patch(f"/api/admin/users/{users['other'].id}", json={"is_active": False}).status_code == 404
    assert app_client.patch(f"/api/admin/users/{users['admin'].id}", json={"role": "pathologist"}).status_code == 409
    assert [i["code"] for i in app_client.get("/api/admin/institutions").json()] == ["H1"]
    assert app_client.post("/api/admin/institutions", json={"code": "H9", "name": "x"}).status_code == 403

    net = make_user("net@h1.example", role="network_admin")
    login(app_client, net)
    assert app_client.post("/api/admin/institutions", json={"code": "H9", "name": "Nine"}).status_code == 201
    assert {i["code"] for i in app_client.get("/api/admin/institutions").json()} == {"H1", "H2", "H9"}
    assert len(app_client.get("/api/admin/users").json()) == 6
    with session_scope() as s:
        assert s.execute(select(Institution).where(Institution.code == "H9")).scalar_one().name == "Nine"


def test_audit_log_listing_reports_chain_status(app_client: TestClient, users: dict[str, Person],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = make_case(institution_id=users["path1"].institution_id)
    add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
    login(app_client, users["path1"])
    rep = write_report(app_client, case_id, DISCORDANT)
    app_client.post(f"/api/reports/{rep['id']}/sign")
    login(app_client, users["admin"])
    page = app_client.get("/api/admin/audit?action=report.").json()
    assert page["chain"]["ok"] is True and page["total"] == 2
    assert [e["action"] for e in page["items"]] == ["report.signed", "report.created"]
    assert app_client.get(f"/api/admin/audit?object_type=case&object_id={case_id}").json()["total"] >= 3
    login(app_client, users["other"])
    assert app_client.get("/api/admin/audit").status_code == 403

    with session_scope() as s:
        target = s.execute(select(AuditEvent.id).where(AuditEvent.action == "report.signed")).scalar_one()
    with get_engine().begin() as conn:  # tamper behind the application's back
        conn.execute(text("UPDATE audit_events SET action = 'report.updated' WHERE id = :i"), {"i": target})
    login(app_client, users["admin"])
    # the page re-walks the whole log only every FULL_WALK_EVERY; the CLI check always walks it
    with session_scope() as s:
        assert verify_chain(s).first_bad_id == target
    monkeypatch.setattr(audit_service, "FULL_WALK_EVERY", timedelta(0))
    chain = app_client.get("/api/admin/audit").json()["chain"]
    assert chain["ok"] is False and chain["first_bad_id"] == target


def test_audit_page_checks_new_events_every_time_and_old_ones_every_few_minutes(
        app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["admin"])
    first = app_client.get("/api/admin/audit").json()["chain"]
    assert first["ok"] and first["full_walk_at"]
    second = app_client.get("/api/admin/audit").json()["chain"]
    assert second["ok"] and second["full_walk_at"] == first["full_walk_at"]  # no full walk again
    assert second["checked"] > first["checked"]  # but the events added since (the first view) were checked
    with session_scope() as s:  # alter the newest event: the next page view's tail no longer links to it
        newest = s.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)).scalar_one()
    with get_engine().begin() as conn:
        conn.execute(text("UPDATE audit_events SET hash = :h WHERE id = :i"), {"h": "f" * 64, "i": newest})
    third = app_client.get("/api/admin/audit").json()["chain"]
    assert third["ok"] is False and third["first_bad_id"] == newest


def test_discrepancy_filters(app_client: TestClient, users: dict[str, Person]) -> None:
    p1 = users["path1"]
    for number in ("F1", "F2"):
        case_id = make_case(institution_id=p1.institution_id, number=number)
        add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
        login(app_client, p1 if number == "F1" else users["path2"])
        rep = write_report(app_client, case_id, DISCORDANT)
        app_client.post(f"/api/reports/{rep['id']}/sign")
    login(app_client, users["admin"])
    base = "/api/admin/discrepancies"
    assert app_client.get(base).json()["total"] == 6
    assert app_client.get(f"{base}?pathologist_id={p1.id}").json()["total"] == 3
    assert app_client.get(f"{base}?finding=cellular_crescent").json()["total"] == 2
    assert app_client.get(f"{base}?finding=h_grade").json()["total"] == 2
    assert app_client.get(f"{base}?severity=minor").json()["total"] == 0
    assert app_client.get(f"{base}?state=open").json()["total"] == 6
    assert app_client.get(f"{base}?state=none").json()["total"] == 0
    assert app_client.get(f"{base}?since=2999-01-01T00:00:00Z").json()["total"] == 0
    assert app_client.get(f"{base}?severity=catastrophic").status_code == 422
    rows = app_client.get(f"{base}?limit=2").json()
    assert len(rows["items"]) == 2 and rows["items"][0]["case_number"] in ("F1", "F2")
