"""Celery tasks: thin wrappers that validate ids and call `worker.jobs`."""

from __future__ import annotations

import logging
import os

from celery import Task

from worker import jobs
from worker.celery_app import ANALYZE_TASK, celery_app

log = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 8


def retry_backoff_s(retries: int) -> float:
    """2, 4, 8 … 60 s: long enough for a database failover, short enough to keep users waiting little."""
    return float(min(60, 2 ** (retries + 1)))


@celery_app.task(bind=True, name=ANALYZE_TASK, acks_late=True, max_retries=MAX_TRANSIENT_RETRIES)  # type: ignore[untyped-decorator]
def analyze_slide(self: Task, job_id: int) -> str:
    """Run one analysis job by id; a duplicate or stale message is a no-op."""
    if isinstance(job_id, bool) or not isinstance(job_id, int) or job_id <= 0:
        log.error("analyze_slide called with an invalid job id %r; dropped", job_id)
        return "invalid"
    worker_id = f"{self.request.hostname or 'worker'}/{os.getpid()}"
    try:
        return jobs.run_job(job_id, worker_id=worker_id, task_id=self.request.id).value
    except jobs.TransientJobError as exc:
        raise self.retry(exc=exc, countdown=retry_backoff_s(self.request.retries)) from exc
