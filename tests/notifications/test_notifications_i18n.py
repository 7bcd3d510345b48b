"""Notifications carry kind + params for the UI to phrase; alert e-mails go out in the assignee's language."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import Message

from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db.models import Alert, AuditEvent, Notification, User
from app.db.session import session_scope
from tests.alerts.smtp import smtp_server
from tests.alerts.test_alerts import discrepant_case
from tests.conftest import Person, login, make_user


def text_of(msg: Message) -> str:
    raw = msg.get_payload(decode=True)
    assert isinstance(raw, bytes)
    return raw.decode(msg.get_content_charset() or "utf-8")


def test_notifications_store_kind_and_params_next_to_the_english_words(app_client: TestClient,
                                                                        users: dict[str, Person]) -> None:
    alert_id = discrepant_case(app_client, users["path1"], "N1")
    with session_scope() as s:
        fields = s.get(Alert, alert_id).fields  # type: ignore[union-attr]
    login(app_client, users["path2"])
    note = app_client.get("/api/notifications").json()["items"][0]
    assert note["kind"] == "alert_assigned"
    assert note["params"] == {"case_number": "N1", "fields": fields}
    assert note["title"] == "Second read requested: case N1"
    assert note["body"] == f"Major discrepancy in {', '.join(fields)}."
    assert note["payload"] == {"case_id": note["payload"]["case_id"], "alert_id": alert_id}

    app_client.post(f"/api/alerts/{alert_id}/acknowledge")
    assert app_client.post(f"/api/alerts/{alert_id}/resolve", json={"reason": "ai_error"}).status_code == 200
    login(app_client, users["path1"])
    note = app_client.get("/api/notifications").json()["items"][0]
    assert note["kind"] == "alert_resolved" and note["params"] == {"case_number": "N1", "reason": "ai_error"}
    assert note["body"] == "Reason: ai_error."


def test_unassigned_alert_notifies_admins_with_params(app_client: TestClient, users: dict[str, Person]) -> None:
    admin2 = make_user("admin@h2.example", institution="H2", role="admin")
    discrepant_case(app_client, users["other"], "U1")
    login(app_client, admin2)
    note = app_client.get("/api/notifications").json()["items"][0]
    assert note["kind"] == "alert_unassigned" and note["params"] == {"case_number": "U1"}


def test_rows_written_before_params_still_list(app_client: TestClient, users: dict[str, Person]) -> None:
    with session_scope() as s:
        s.add(Notification(user_id=users["path1"].id, kind="alert_assigned", title="Second read requested: case OLD",
                           body="Major discrepancy in C.", payload={"case_id": 1, "alert_id": 1}))
    login(app_client, users["path1"])
    note = app_client.get("/api/notifications").json()["items"][0]
    assert note["params"] is None and note["title"] == "Second read requested: case OLD"


def test_my_language_is_saved_and_the_alert_email_uses_it(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path2"])
    assert app_client.get("/api/auth/me").json()["locale"] == "en"
    r = app_client.patch("/api/auth/me", json={"locale": "ja"})
    assert r.status_code == 200 and r.json()["locale"] == "ja"
    assert app_client.patch("/api/auth/me", json={"locale": "fr"}).status_code == 422
    assert app_client.patch("/api/auth/me", json={"locale": "ja", "role": "admin"}).status_code == 422
    with session_scope() as s:
        assert s.get(User, users["path2"].id).locale == "ja"  # type: ignore[union-attr]
        assert s.execute(select(AuditEvent).where(AuditEvent.action == "auth.locale_changed")).first() is not None

    with smtp_server() as inbox:
        discrepant_case(app_client, users["path1"], "J1")  # assigned to path2, who reads Japanese
        discrepant_case(app_client, users["path2"], "E1")  # assigned to path1 (English, the default)
    by_to = {m["X-Envelope-To"]: m for m in inbox.messages}
    ja = by_to[users["path2"].email]
    assert str(make_header(decode_header(ja["Subject"]))) == "[glomcheck] 二次読影の依頼: 症例 J1"
    body = text_of(ja)
    assert "症例 J1 の署名済み報告書と AI 評価の間に重大な不一致があります" in body and "Second read" not in body
    en = by_to[users["path1"].email]
    assert str(make_header(decode_header(en["Subject"]))) == "[glomcheck] Second read requested: case E1"
    body = text_of(en)
    assert "differs from the AI assessment" in body and "二次読影" not in body


def test_anonymous_cannot_change_a_language(app_client: TestClient, users: dict[str, Person]) -> None:
    assert app_client.patch("/api/auth/me", json={"locale": "ja"}).status_code == 401
