"""`glomcheck serve`: the API (uvicorn), plus an embedded worker process when no broker URL is set."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import click

log = logging.getLogger(__name__)

WORKER_STOP_TIMEOUT_S = 15.0


def start_embedded_worker() -> subprocess.Popen[bytes]:
    """A real `glomcheck worker` in its own process group, told to exit if this process dies."""
    from app.config import get_settings

    settings = get_settings()
    pool = "solo" if settings.worker_concurrency <= 1 else "prefork"
    cmd = [sys.executable, "-m", "worker.cli", "--pool", pool, "--concurrency", str(settings.worker_concurrency),
           "--exit-with-parent"]
    return subprocess.Popen(cmd, start_new_session=True)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (finish the current job) with a deadline, then kill; the reaper re-queues a killed job."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(WORKER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def run_server(host: str, port: int, *, reload: bool = False, with_worker: bool | None = None) -> None:
    """Migrate an embedded SQLite database, start the embedded worker if wanted, run uvicorn."""
    import uvicorn

    from app.config import get_settings
    from app.db.migrate import upgrade

    settings = get_settings()
    if settings.is_sqlite:
        upgrade(settings.db_url)  # zero-setup: the embedded database is always at head
    if with_worker is None:
        with_worker = settings.uses_embedded_broker and settings.embedded_worker
    if with_worker and settings.uses_embedded_broker:
        from worker.celery_app import prepare_broker

        prepare_broker()
    proc = start_embedded_worker() if with_worker else None
    if proc is not None:
        click.echo(f"embedded worker started (pid {proc.pid}, broker {settings.effective_broker_url})")
    try:
        uvicorn.run("app.main:create_app", factory=True, host=host, port=port, reload=reload,
                    reload_dirs=["app", "worker"] if reload else None)
    finally:
        if proc is not None:
            stop_worker(proc)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="Restart the API on code changes (development).")
@click.option("--worker/--no-worker", "with_worker", default=None,
              help="Run an embedded worker (default: only when GLOMCHECK_BROKER_URL is unset and "
                   "GLOMCHECK_EMBEDDED_WORKER is true).")
def serve(host: str, port: int, reload: bool, with_worker: bool | None) -> None:
    """Run the web API and front end."""
    run_server(host, port, reload=reload, with_worker=with_worker)
