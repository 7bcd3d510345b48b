"""Settings defaults and refusals, and the admin CLI commands run as real processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.config import Settings

GLOMCHECK = [str(Path(sys.executable).parent / "glomcheck")]


def test_defaults_need_no_server(tmp_path: Path) -> None:
    s = Settings(var_dir=tmp_path, database_url=None, broker_url=None, storage_dir=None)  # env ignored
    assert s.db_url == f"sqlite:///{tmp_path.resolve() / 'glomcheck.db'}"
    assert s.uses_embedded_broker and s.effective_broker_url.startswith("sqla+sqlite:///")
    assert s.storage == (tmp_path / "storage").resolve()


@pytest.mark.parametrize("secret", ["", "changethis", "dev-insecure-secret", "  Secret "])
def test_placeholder_secret_refused_in_production(secret: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=secret)


def test_real_secret_accepted_in_production() -> None:
    s = Settings(environment="production", secret_key="a-long-random-value-1234567890")
    assert s.secure_cookies is True


def _run(args: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(GLOMCHECK + args, env=env, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload,no-any-return]


def test_cli_upgrade_create_user_and_audit_verify(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLOMCHECK_")}
    env.update(GLOMCHECK_VAR_DIR=str(tmp_path), GLOMCHECK_ENVIRONMENT="test")
    assert _run(["db", "upgrade"], env).returncode == 0
    r = _run(["create-user", "--email", "Cli@Example.org", "--password", "long-enough-1", "--institution", "HX",
              "--role", "admin"], env)
    assert r.returncode == 0, r.stderr
    assert "created user cli@example.org" in r.stdout
    dup = _run(["create-user", "--email", "cli@example.org", "--password", "long-enough-1", "--institution", "HX"], env)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    weak = _run(["create-user", "--email", "b@example.org", "--password", "short", "--institution", "HX"], env)
    assert weak.returncode != 0 and "at least 8" in weak.stderr

    ok = _run(["audit", "verify"], env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    # Tamper with the log behind the application's back: verify must notice.
    with sqlite3.connect(tmp_path / "glomcheck.db") as conn:
        conn.execute("UPDATE audit_events SET details = '{\"email\": \"evil@example.org\"}'")
    bad = _run(["audit", "verify"], env)
    assert bad.returncode == 1 and json.loads(bad.stdout)["ok"] is False
