"""Validate docker-compose.yml with a real compose v2 binary (no Docker engine runs here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import compose
import yaml

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(compose.__file__).parent / "docker-compose"
ENV = {"POSTGRES_PASSWORD": "x", "GLOMCHECK_SECRET_KEY": "y", "PATH": "/usr/bin:/bin"}


def _config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BINARY), "-f", str(path), "config", "--format", "json"], capture_output=True,
                          text=True, env=ENV, timeout=60)


def test_compose_file_is_valid_and_complete() -> None:
    r = _config(REPO / "docker-compose.yml")
    assert r.returncode == 0, r.stderr
    import json

    cfg = json.loads(r.stdout)
    services = cfg["services"]
    assert {"db", "redis", "migrate", "api", "worker", "frontend"} <= set(services)
    for name in ("db", "redis", "api", "worker", "frontend"):
        assert "healthcheck" in services[name], name
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    gpu = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]


def test_validator_rejects_a_broken_file(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    data["services"]["api"]["bogus_key"] = 1
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(yaml.safe_dump(data))
    shutil.copytree(REPO / "deploy", tmp_path / "deploy")
    r = _config(bad)
    assert r.returncode != 0 and "bogus_key" in r.stderr


def test_secrets_are_required() -> None:
    r = subprocess.run([str(BINARY), "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
                       capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode != 0 and "required variable" in r.stderr
