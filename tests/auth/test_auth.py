from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Person, login


def test_login_sets_httponly_strict_cookie_and_me_works(app_client: TestClient, users: dict[str, Person]) -> None:
    r = app_client.post("/api/auth/login", json={"email": "PATH1@h1.example", "password": users["path1"].password})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    me = app_client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["email"] == "path1@h1.example"


def test_wrong_password_is_401_json(app_client: TestClient, users: dict[str, Person]) -> None:
    r = app_client.post("/api/auth/login", json={"email": "path1@h1.example", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_credentials"


def test_no_session_is_401_json(app_client: TestClient) -> None:
    r = app_client.get("/api/auth/me")
    assert r.status_code == 401 and r.json()["error"] == "not_authenticated"


def test_bearer_token_and_logout(app_client: TestClient, users: dict[str, Person]) -> None:
    login(app_client, users["path1"])
    tok = app_client.post("/api/auth/tokens", json={"name": "script"}).json()["token"]
    app_client.post("/api/auth/logout")
    assert app_client.get("/api/auth/me").status_code == 401
    r = app_client.get("/api/auth/me", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200 and r.json()["email"] == "path1@h1.example"
    assert app_client.get("/api/auth/me", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_validation_error_is_422_json(app_client: TestClient) -> None:
    r = app_client.post("/api/auth/login", json={"email": "x"})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
