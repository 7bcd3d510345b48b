"""Login, sessions, API tokens and user creation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import record
from app.auth.security import hash_password, new_token, token_digest, verify_password
from app.config import get_settings
from app.db.base import utcnow
from app.db.models import AuthToken, Institution, Role, TokenKind, User
from app.errors import BadRequest, Conflict, NotFound, Unauthorized

MIN_PASSWORD = 8


def authenticate(session: Session, *, email: str, password: str) -> User:
    user = session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("Wrong e-mail or password.", code="invalid_credentials")
    if not user.is_active:
        raise Unauthorized("This account is disabled.", code="account_disabled")
    return user


def issue_token(session: Session, *, user: User, kind: TokenKind, name: str | None = None,
                ttl: timedelta | None = None) -> str:
    """Create a session or API token and return its secret (shown once, never stored)."""
    if ttl is None and kind is TokenKind.session:
        ttl = timedelta(hours=get_settings().session_ttl_hours)
    token = new_token()
    session.add(
        AuthToken(
            user_id=user.id,
            kind=kind.value,
            token_hash=token_digest(token),
            name=name,
            expires_at=utcnow() + ttl if ttl else None,
        )
    )
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.execute(
        select(AuthToken).where(AuthToken.token_hash == token_digest(token), AuthToken.revoked.is_(False))
    ).scalar_one_or_none()
    if row is None or (row.expires_at is not None and row.expires_at < utcnow()):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return user


def revoke_token(session: Session, token: str) -> None:
    row = session.execute(select(AuthToken).where(AuthToken.token_hash == token_digest(token))).scalar_one_or_none()
    if row is not None:
        row.revoked = True
        session.flush()


def get_or_create_institution(session: Session, *, code: str, name: str | None = None) -> Institution:
    inst = session.execute(select(Institution).where(Institution.code == code)).scalar_one_or_none()
    if inst is None:
        inst = Institution(code=code, name=name or code, settings={})
        session.add(inst)
        session.flush()
    return inst


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    institution_code: str,
    role: Role = Role.pathologist,
    display_name: str | None = None,
    institution_name: str | None = None,
    actor_user_id: int | None = None,
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise BadRequest(f"'{email}' is not an e-mail address.", code="invalid_email")
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"Passwords need at least {MIN_PASSWORD} characters.", code="weak_password")
    if session.execute(select(User.id).where(User.email == email)).first():
        raise Conflict(f"A user with e-mail {email} already exists.", code="user_exists")
    inst = get_or_create_institution(session, code=institution_code, name=institution_name)
    user = User(
        institution_id=inst.id,
        email=email,
        display_name=display_name or email.split("@")[0],
        role=role.value,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    record(session, "user.created", institution_id=inst.id, actor_user_id=actor_user_id,
           object_type="user", object_id=user.id, details={"email": email, "role": role.value})
    return user


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user
