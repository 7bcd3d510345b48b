"""Second-read alerts: assignment, permissions, transitions, notifications, e-mail failure."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import Alert, AuditEvent, Case, User
from app.db.session import session_scope
from tests.alerts.smtp import smtp_server, smtp_unreachable
from tests.conftest import Person, login, make_user
from tests.reports.factories import add_ai_results, glomeruli, make_case
from tests.reports.test_reports import DISCORDANT, write_report


def discrepant_case(client: TestClient, author: Person, number: str) -> int:
    """Case with crescents, a discordant report signed by ``author``; returns the alert id."""
    case_id = make_case(institution_id=author.institution_id, number=number)
    add_ai_results(case_id=case_id, findings=glomeruli(7, cellular_crescent=4, global_sclerosis=1))
    login(client, author)
    rep = write_report(client, case_id, DISCORDANT)
    ids = client.post(f"/api/reports/{rep['id']}/sign").json()["alert_ids"]
    assert len(ids) == 1
    return int(ids[0])


def alert_row(alert_id: int) -> Alert:
    with session_scope() as s:
        a = s.get(Alert, alert_id)
        assert a is not None
        return a


def test_assignment_is_same_site_never_author_fewest_open_then_id(app_client: TestClient, users: dict[str, Person]) -> None:
    p3 = make_user("path3@h1.example")
    a1 = discrepant_case(app_client, users["path1"], "A1")
    assert alert_row(a1).assignee_id == users["path2"].id  # tie on 0 open alerts: lower id
    a2 = discrepant_case(app_client, users["path1"], "A2")
    assert alert_row(a2).assignee_id == p3.id  # path2 now has one open alert
    a3 = discrepant_case(app_client, users["path2"], "A3")
    assert alert_row(a3).assignee_id == users["path1"].id  # never the author (path2), path1 has none
    a4 = discrepant_case(app_client, users["path1"], "A4")
    assert alert_row(a4).assignee_id in (users["path2"].id, p3.id)
    assert {alert_row(a).institution_id for a in (a1, a2, a3, a4)} == {users["path1"].institution_id}


def test_alone_at_site_the_alert_stays_open_unassigned_and_admins_are_told(
    app_client: TestClient, users: dict[str, Person]
) -> None:
    admin2 = make_user("admin@h2.example", institution="H2", role="admin")
    alert_id = discrepant_case(app_client, users["other"], "B1")
    a = alert_row(alert_id)
    assert a.assignee_id is None and a.state == "open" and a.email_status == "skipped"
    login(app_client, admin2)
    notes = app_client.get("/api/notifications").json()
    assert notes["unread"] == 1 and notes["items"][0]["kind"] == "alert_unassigned"


def test_workflow_permissions_and_bad_input(app_client: TestClient, users: dict[str, Person]) -> None:
    alert_id = discrepant_case(app_client, users["path1"], "W1")

    def state() -> tuple[str, str | None, str]:
        a = alert_row(alert_id)
        with session_scope() as s:
            case = s.get(Case, a.case_id)
            assert case is not None
            return a.state, a.reason, case.state

    # The author sees the alert but may not act on it; another site does not even see it.
    assert app_client.get(f"/api/alerts/{alert_id}").status_code == 200
    r = app_client.post(f"/api/alerts/{alert_id}/acknowledge")
    assert r.status_code == 403 and r.json()["error"] == "not_alert_assignee"
    login(app_client, users["other"])
    assert app_client.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 404
    assert state() == ("open", None, "discrepant")

    login(app_client, users["path2"])
    queue = app_client.get("/api/alerts").json()
    assert [q["id"] for q in queue] == [alert_id] and queue[0]["fields"] == ["C", "h_grade", "n_cellular_crescent"]
    with session_scope() as s:
        names = {u.id: u.display_name for u in s.query(User).all()}
    assert queue[0]["author_name"] == names[users["path1"].id]  # the queue says whose report is second-read
    assert queue[0]["assignee_name"] == names[users["path2"].id]
    detail = app_client.get(f"/api/alerts/{alert_id}").json()
    assert {d["field"] for d in detail["discrepancies"]} == {"C", "h_grade", "n_cellular_crescent"}
    r = app_client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "ai_error"})
    assert r.status_code == 409 and r.json()["error"] == "invalid_alert_transition"
    assert app_client.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 200
    assert app_client.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 409
    assert state() == ("acknowledged", None, "second_read")

    for body in ({}, {"reason": None}, {"reason": "because"}, {"note": "no reason"}):
        r = app_client.post(f"/api/alerts/{alert_id}/resolve", json=body)
        assert r.status_code == 422 and r.json()["error"] == "validation_error", r.text
    r = app_client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "report_amended"})
    assert r.status_code == 422 and r.json()["error"] == "no_signed_amendment"
    r = app_client.put(f"/api/alerts/{alert_id}/second-read", json={"pathogenesis": "nope"})
    assert r.status_code == 422
    assert state() == ("acknowledged", None, "second_read")

    r = app_client.put(f"/api/alerts/{alert_id}/second-read", json={"n_glomeruli": 12, "C": 2, "h_grade": "II"})
    assert r.status_code == 200 and r.json()["second_read"]["C"] == 2
    r = app_client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "original_confirmed", "note": "ok"})
    assert r.status_code == 200 and r.json()["state"] == "resolved"
    assert state() == ("resolved", "original_confirmed", "resolved")
    assert app_client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "ai_error"}).status_code == 409
    assert app_client.put(f"/api/alerts/{alert_id}/second-read", json={}).json()["error"] == "alert_resolved"

    login(app_client, users["path1"])  # the author is told the outcome
    notes = app_client.get("/api/notifications?unread_only=true").json()
    assert [n["kind"] for n in notes["items"]] == ["alert_resolved"]
    nid = notes["items"][0]["id"]
    assert app_client.post(f"/api/notifications/{nid}/read").json()["read_at"] is not None
    assert app_client.get("/api/notifications").json()["unread"] == 0
    login(app_client, users["path2"])
    assert app_client.post(f"/api/notifications/{nid}/read").status_code == 404  # not theirs
    assert app_client.post("/api/notifications/read-all").json()["marked"] == 1

    with session_scope() as s:
        actions = [e for e in s.execute(select(AuditEvent.action)).scalars() if e.startswith("alert.")]
    assert {"alert.opened", "alert.acknowledged", "alert.second_read_recorded", "alert.resolved"} <= set(actions)


def test_admin_of_the_site_may_act_and_report_amended_needs_an_amendment(
    app_client: TestClient, users: dict[str, Person]
) -> None:
    alert_id = discrepant_case(app_client, users["path1"], "R1")
    login(app_client, users["admin"])
    assert app_client.post(f"/api/alerts/{alert_id}/acknowledge").status_code == 200
    login(app_client, users["path1"])
    rep = app_client.get(f"/api/cases/{alert_row(alert_id).case_id}/report").json()
    v2 = app_client.post(f"/api/reports/{rep['id']}/amend", json={"reason": "crescents missed",
                                                                   "values": {**DISCORDANT, "C": 2, "h_grade": "II",
                                                                              "n_cellular_crescent": 4}}).json()
    signed = app_client.post(f"/api/reports/{v2['id']}/sign").json()
    assert signed["alert_ids"] == []  # the open second read covers it
    login(app_client, users["path2"])
    r = app_client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "report_amended"})
    assert r.status_code == 200 and r.json()["reason"] == "report_amended"


def test_email_failure_is_recorded_and_the_alert_survives(app_client: TestClient, users: dict[str, Person]) -> None:
    with smtp_unreachable():
        alert_id = discrepant_case(app_client, users["path1"], "E1")
    a = alert_row(alert_id)
    assert a.state == "open" and a.assignee_id == users["path2"].id
    assert a.email_status == "failed" and a.email_error
    login(app_client, users["path2"])
    assert app_client.get("/api/notifications").json()["items"][0]["payload"]["alert_id"] == alert_id
    with session_scope() as s:
        assert s.execute(select(AuditEvent).where(AuditEvent.action == "alert.email_failed")).first() is not None


def test_email_goes_to_the_assignee_only_after_commit(app_client: TestClient, users: dict[str, Person]) -> None:
    with smtp_server() as inbox:
        alert_id = discrepant_case(app_client, users["path1"], "M1")
        assert len(inbox.messages) == 1
        msg = inbox.messages[0]
        assert msg["X-Envelope-To"] == users["path2"].email and "M1" in str(msg["Subject"])
        assert alert_row(alert_id).email_status == "sent"
        # A request that fails after the alert was created sends nothing (rolled back).
        from app.alerts.service import open_for_comparison  # noqa: F401 - imported for clarity of intent
        from app.db.session import session_factory
        from app.notifications.mailer import queue_alert_email

        s = session_factory()()
        queue_alert_email(s, alert_id)
        s.rollback()
        s.close()
        assert len(inbox.messages) == 1
