"""Shared fixtures: real PostgreSQL and SQLite databases built by Alembic, app clients, users.

PostgreSQL must be reachable (GLOMCHECK_TEST_PG, default postgresql://postgres@127.0.0.1:5432):
tests fail loudly rather than skip when it is not.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
# Test profile everywhere (cheap argon2 parameters, no production secret checks).
os.environ.setdefault("GLOMCHECK_ENVIRONMENT", "test")
def _shared_data() -> Path:
    """../shared/data beside the checkout (or GLOMCHECK_SHARED_DATA); /work/shared/data as a last resort."""
    for cand in (os.environ.get("GLOMCHECK_SHARED_DATA"), REPO.parent / "shared" / "data", "/work/shared/data"):
        if cand and Path(cand).is_dir():
            return Path(cand).resolve()
    raise RuntimeError("shared test data not found: set GLOMCHECK_SHARED_DATA to the shared/data folder")


SHARED_DATA = _shared_data()
PG_ADMIN_URL = os.environ.get("GLOMCHECK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("GLOMCHECK_TEST_REDIS", "redis://127.0.0.1:6379")


def _pg_base() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0]


@dataclass
class DbUnderTest:
    kind: str  # "postgresql" | "sqlite"
    url: str

    def truncate_all(self) -> None:
        from app.db.models import Base
        from app.db.session import get_engine

        engine = get_engine()
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with engine.begin() as conn:
            if self.kind == "postgresql":
                conn.execute(text("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE"))
            else:
                for t in tables:
                    conn.execute(text(f"DELETE FROM {t}"))


def create_pg_database() -> str:
    name = f"glomcheck_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:  # pragma: no cover - environment failure
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}", pytrace=False)
    return f"{_pg_base()}/{name}".replace("postgresql://", "postgresql+psycopg://")


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def configure(monkeypatch: pytest.MonkeyPatch | None, **env: str | None) -> None:
    """Point glomcheck's settings at the given GLOMCHECK_* values and forget cached engines."""
    from app.config import get_settings
    from app.db.session import reset_engine

    for key, value in env.items():
        name = f"GLOMCHECK_{key.upper()}"
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()
    reset_engine()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    from app.db.migrate import upgrade

    url = create_pg_database()
    upgrade(url)
    yield url
    from app.db.session import reset_engine

    reset_engine()
    drop_pg_database(url)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from app.db.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'glomcheck.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DbUnderTest]:
    """A migrated, empty database of each kind; settings point at it; storage in tmp_path."""
    url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "sqlite_url")
    configure(None, database_url=url, var_dir=str(tmp_path / "var"), storage_dir=str(tmp_path / "storage"),
              environment="test", broker_url=None)
    tdb = DbUnderTest(request.param, url)
    tdb.truncate_all()
    yield tdb
    tdb.truncate_all()
    configure(None)


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[DbUnderTest]:
    """PostgreSQL only (for tests that need not run twice)."""
    configure(None, database_url=pg_url, var_dir=str(tmp_path / "var"), storage_dir=str(tmp_path / "storage"),
              environment="test", broker_url=None)
    tdb = DbUnderTest("postgresql", pg_url)
    tdb.truncate_all()
    yield tdb
    tdb.truncate_all()
    configure(None)


@pytest.fixture
def app_client(db: DbUnderTest) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app()) as client:
        yield client


@dataclass
class Person:
    id: int
    email: str
    password: str
    institution_id: int
    role: str


def make_user(email: str, *, institution: str = "H1", role: str = "pathologist", password: str = "correct-horse-1") -> Person:
    from app.auth.service import create_user
    from app.db.models import Role
    from app.db.session import session_scope

    with session_scope() as s:
        u = create_user(s, email=email, password=password, institution_code=institution, role=Role(role))
        return Person(u.id, u.email, password, u.institution_id, u.role)


def login(client: TestClient, person: Person) -> TestClient:
    r = client.post("/api/auth/login", json={"email": person.email, "password": person.password})
    assert r.status_code == 200, r.text
    return client


@pytest.fixture
def users(db: DbUnderTest) -> dict[str, Person]:
    """Two pathologists and an admin at H1, a pathologist at H2."""
    return {
        "path1": make_user("path1@h1.example"),
        "path2": make_user("path2@h1.example"),
        "admin": make_user("admin@h1.example", role="admin"),
        "other": make_user("path@h2.example", institution="H2"),
    }


def set_blinded_read(institution_id: int, enabled: bool) -> None:
    """Turn the per-institution blinded first read on or off (DOMAIN.md §1)."""
    from app.db.models import Institution
    from app.db.session import session_scope

    with session_scope() as s:
        inst = s.get(Institution, institution_id)
        assert inst is not None
        inst.settings = {**inst.settings, "blinded_first_read": enabled}
