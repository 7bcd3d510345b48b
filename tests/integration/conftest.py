"""Real worker processes against real brokers: PostgreSQL + Redis, and the embedded SQLite defaults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import REDIS_URL, REPO, DbUnderTest, configure
from worker import jobs

FAST_ENV = {
    "heartbeat_interval_s": "0.3",
    "heartbeat_timeout_s": "2",
    "max_job_attempts": "3",
    "progress_write_interval_s": "0.1",
}
ENV_KEYS = ("broker_url", "task_queue", "analysis_pipeline", "test_stage_delay_s", *FAST_ENV)


@dataclass
class WorkerProc:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: main process and pool children die without any cleanup."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@dataclass
class Stack:
    kind: str  # "redis" | "embedded"
    db: DbUnderTest
    tmp: Path
    workers: list[WorkerProc] = field(default_factory=list)

    def start_worker(self, *, pool: str = "prefork", **env: str) -> WorkerProc:
        """A real `glomcheck worker` (python -m worker.cli) in its own process group; waits until ready."""
        log = self.tmp / f"worker-{len(self.workers)}.log"
        child_env = {**os.environ, "PYTHONPATH": str(REPO), **{f"GLOMCHECK_{k.upper()}": v for k, v in env.items()}}
        proc = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "--pool", pool, "--concurrency", "1"],
            cwd=REPO, env=child_env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        w = WorkerProc(proc, log)
        self.workers.append(w)
        wait_for(lambda: " ready." in w.output() or proc.poll() is not None, 30, "worker start")
        assert proc.poll() is None, w.output()
        return w


def wait_for(cond: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _clean_redis(queue: str) -> None:
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    r.delete(queue)
    for tag, payload in r.hgetall("unacked").items():  # messages left unacked by a killed worker
        if queue.encode() in payload:
            r.hdel("unacked", tag)
            r.zrem("unacked_index", tag)


@pytest.fixture(params=["redis", "embedded"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """PostgreSQL + Redis, or SQLite + the embedded SQLite broker; fast heartbeats; workers cleaned up."""
    queue = f"glomcheck.test.{uuid.uuid4().hex[:8]}"
    if request.param == "redis":
        tdb: DbUnderTest = request.getfixturevalue("pg")
        configure(None, broker_url=REDIS_URL, task_queue=queue, **FAST_ENV)
    else:
        url = request.getfixturevalue("sqlite_url")
        configure(None, database_url=url, var_dir=str(tmp_path / "var"), storage_dir=str(tmp_path / "storage"),
                  environment="test", broker_url=None, task_queue=queue, **FAST_ENV)
        tdb = DbUnderTest("sqlite", url)
        tdb.truncate_all()
    jobs.clear_settings_cache()
    s = Stack(request.param, tdb, tmp_path)
    try:
        yield s
    finally:
        for w in s.workers:
            w.kill()  # graceful shutdown only costs time here; a killed job is the reaper's business anyway
        if request.param == "redis":
            _clean_redis(queue)
        else:
            tdb.truncate_all()
            configure(None, database_url=None, var_dir=None, storage_dir=None)
        configure(None, **{k: None for k in ENV_KEYS})
        jobs.clear_settings_cache()


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    from app.main import create_app

    with TestClient(create_app()) as c:
        yield c
