from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from app.audit.service import record
from app.auth import service
from app.auth.schemas import LoginIn, MePatch, TokenIn, TokenOut, UserOut
from app.config import get_settings
from app.db.base import utcnow
from app.db.models import TokenKind
from app.deps import SESSION_COOKIE, CurrentUser, SessionDep, bearer_or_cookie

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=UserOut, operation_id="login")
def login(body: LoginIn, response: Response, session: SessionDep) -> UserOut:
    """Password login; sets an HttpOnly, SameSite=Strict session cookie for the browser."""
    user = service.authenticate(session, email=body.email, password=body.password)
    token = service.issue_token(session, user=user, kind=TokenKind.session)
    s = get_settings()
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=s.secure_cookies,
        max_age=s.session_ttl_hours * 3600, path="/",
    )
    record(session, "auth.login", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="user", object_id=user.id)
    return UserOut.model_validate(user)


@router.post("/logout", status_code=204, operation_id="logout")
def logout(request: Request, response: Response, session: SessionDep) -> None:
    token = bearer_or_cookie(request)
    if token:
        service.revoke_token(session, token)
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=UserOut, operation_id="me")
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.patch("/me", response_model=UserOut, operation_id="updateMe")
def update_me(body: MePatch, user: CurrentUser, session: SessionDep) -> UserOut:
    """Change my own preferences: the language of the UI and of the e-mails I am sent."""
    if user.locale != body.locale:
        old = user.locale
        user.locale = body.locale
        session.flush()
        record(session, "auth.locale_changed", institution_id=user.institution_id, actor_user_id=user.id,
               object_type="user", object_id=user.id, details={"from": old, "to": body.locale})
    return UserOut.model_validate(user)


@router.post("/tokens", response_model=TokenOut, status_code=201, operation_id="createApiToken")
def create_token(body: TokenIn, user: CurrentUser, session: SessionDep) -> TokenOut:
    """A bearer token for scripts and API clients; the secret is shown only in this response."""
    ttl = timedelta(days=body.days) if body.days else None
    token = service.issue_token(session, user=user, kind=TokenKind.api, name=body.name, ttl=ttl)
    record(session, "auth.token_created", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="user", object_id=user.id, details={"name": body.name})
    return TokenOut(token=token, name=body.name, expires_at=utcnow() + ttl if ttl else None)
