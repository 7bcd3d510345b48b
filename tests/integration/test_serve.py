"""`glomcheck serve` on the zero-setup defaults: migrates its SQLite, runs an embedded worker, stops it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.analysis.factories import make_slide
from tests.conftest import REPO, configure, make_user
from tests.integration.conftest import FAST_ENV, wait_for
from worker import jobs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def embedded_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {"var_dir": str(tmp_path / "var"), "database_url": None, "storage_dir": None, "broker_url": None,
           "environment": "test", "analysis_pipeline": "worker.jobs:tissue_only_pipeline", **FAST_ENV}
    configure(None, **env)
    jobs.clear_settings_cache()
    yield {f"GLOMCHECK_{k.upper()}": v for k, v in env.items() if v is not None}
    configure(None, **{k: None for k in env})
    jobs.clear_settings_cache()


def test_serve_runs_api_and_embedded_worker_and_stops_both(embedded_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    glomcheck = Path(sys.executable).with_name("glomcheck")
    proc = subprocess.Popen([str(glomcheck), "serve", "--port", str(port)], cwd=tmp_path,
                            env={**os.environ, **embedded_env, "PYTHONPATH": str(REPO)},
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    worker_pid = None
    try:
        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/api/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        wait_for(healthy, 40, "glomcheck serve to answer", interval=0.2)
        assert proc.poll() is None, log.read_text()
        m = re.search(r"embedded worker started \(pid (\d+)", log.read_text())
        assert m, log.read_text()
        worker_pid = int(m.group(1))

        # serve migrated the default SQLite under var/ itself; fill it from here.
        person = make_user("serve@h1.example")
        slide = make_slide(person)
        with httpx.Client(base_url=base, timeout=10) as c:
            assert c.post("/api/auth/login", json={"email": person.email, "password": person.password}).is_success
            job = c.post(f"/api/slides/{slide.id}/analyze").json()
            wait_for(lambda: c.get(f"/api/jobs/{job['id']}").json()["state"] == "succeeded", 40,
                     "the embedded worker to finish the job", interval=0.2)
            # Blinded first read: the pathologist sees that the job finished, not its results.
            assert c.get(f"/api/jobs/{job['id']}").json()["result"] == {"hidden": "blinded_first_read"}
        admin = make_user("serve-admin@h1.example", role="admin")
        with httpx.Client(base_url=base, timeout=10) as c:
            assert c.post("/api/auth/login", json={"email": admin.email, "password": admin.password}).is_success
            assert c.get(f"/api/jobs/{job['id']}").json()["result"]["pipeline"] == "tissue-only"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert worker_pid is not None
    wait_for(lambda: not alive(worker_pid), 20, "the embedded worker to stop with serve")
