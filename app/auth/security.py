"""Password hashing (argon2id) and opaque tokens (only their SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import os
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@lru_cache(maxsize=2)
def _hasher(fast: bool) -> PasswordHasher:
    # Tests create hundreds of users; full-strength argon2 dominated their run time. Hashes made with
    # either profile verify under both (argon2 encodes its parameters in the hash).
    if fast:
        return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return PasswordHasher()


def _fast() -> bool:
    return os.environ.get("GLOMCHECK_ENVIRONMENT") == "test"


@lru_cache(maxsize=2)
def _dummy_hash(fast: bool) -> str:
    # Verifying against a dummy hash when the user does not exist keeps login timing uniform.
    return _hasher(fast).hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher(_fast()).hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    fast = _fast()
    try:
        return _hasher(fast).verify(password_hash or _dummy_hash(fast), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
