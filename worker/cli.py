"""`glomcheck worker`: a real Celery worker process, plus the reaper that makes lost messages harmless."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import click


def _watch_parent(parent_pid: int) -> None:
    """Embedded workers stop when `glomcheck serve` goes away, even if it was killed."""

    def loop() -> None:
        while True:
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            threading.Event().wait(1.0)

    threading.Thread(target=loop, name="parent-watch", daemon=True).start()


@click.command("worker")
@click.option("--concurrency", "-c", type=int, default=None, help="Parallel jobs (default GLOMCHECK_WORKER_CONCURRENCY).")
@click.option("--pool", type=click.Choice(["prefork", "solo", "threads"]), default="prefork", show_default=True)
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.option("--hostname", "-n", default=None, help="Celery node name (default glomcheck-<pid>@<host>).")
@click.option("--exit-with-parent", is_flag=True, hidden=True)
def worker(concurrency: int | None, pool: str, loglevel: str, hostname: str | None, exit_with_parent: bool) -> None:
    """Run analysis jobs from the broker (Redis, or the embedded SQLite broker when none is set)."""
    from celery.signals import worker_ready, worker_shutdown

    from app.config import get_settings
    from worker import tasks  # noqa: F401  (registers the task)
    from worker.celery_app import celery_app, purge_delivered_messages, send_analyze, task_queue
    from worker.jobs import Reaper

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if exit_with_parent:
        _watch_parent(os.getppid())
    reaper: dict[str, Reaper] = {}

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def _start_reaper(**_: Any) -> None:
        reaper["r"] = Reaper(send=send_analyze,
                             housekeeping=purge_delivered_messages if settings.uses_embedded_broker else None)
        reaper["r"].start()

    @worker_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _stop_reaper(**_: Any) -> None:
        if "r" in reaper:
            reaper["r"].stop()

    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--pool={pool}",
        f"--hostname={hostname or f'glomcheck-{os.getpid()}@%h'}",
        f"--queues={task_queue()}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    click.echo(f"glomcheck worker: broker {'embedded (SQLite)' if settings.uses_embedded_broker else 'external'}, "
               f"queue {task_queue()}, pool {pool}")
    celery_app.worker_main(argv)


if __name__ == "__main__":
    worker()
