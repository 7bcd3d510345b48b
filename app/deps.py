"""Typed request dependencies: one session per request (the transaction owner) and the current user."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.db.models import Role, User
from app.db.session import session_factory
from app.errors import Forbidden, Unauthorized

SESSION_COOKIE = "glomcheck_session"
_after_commit_key = "glomcheck_after_commit"


def get_session(request: Request) -> Iterator[Session]:
    """Commit on success, roll back on error; callbacks queued with `after_commit` run after the commit."""
    session = session_factory()()
    request.state.after_commit = []
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        request.state.after_commit = []
        raise
    finally:
        session.close()
    for fn in request.state.after_commit:
        fn()


def after_commit(request: Request, fn: Callable[[], None]) -> None:
    """Defer work (e.g. sending a Celery task) until the request's transaction has committed."""
    request.state.after_commit.append(fn)


# scope="function": commit before the response is sent, so a client never reads stale state.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer_or_cookie(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.cookies.get(SESSION_COOKIE)


def get_current_user(request: Request, session: SessionDep) -> User:
    from app.auth.service import user_for_token

    token = bearer_or_cookie(request)
    if not token:
        raise Unauthorized("Log in first: no session cookie or bearer token was sent.")
    user = user_for_token(session, token)
    if user is None:
        raise Unauthorized("Your session has expired or the token is invalid; log in again.", code="session_expired")
    request.state.user = user
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> User:
    if user.role not in (Role.admin, Role.network_admin):
        raise Forbidden("This action needs an administrator.")
    return user


RequireAdmin = Annotated[User, Depends(require_admin)]
