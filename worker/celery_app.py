"""The Celery app, configured from settings: Redis when a broker URL is set, else an embedded broker.

The broker only carries wake-up calls (`analyze_slide(job_id)`); the job row in the database is the
truth. No result backend: results go to the database inside the task's own transaction.
"""

from __future__ import annotations

import logging
from typing import Any

import kombu.transport
from celery import Celery
from celery.signals import worker_process_init
from kombu.transport import sqlalchemy as kombu_sqla

from app.config import Settings, get_settings

log = logging.getLogger(__name__)

ANALYZE_TASK = "glomcheck.analyze_slide"
DEFAULT_QUEUE = "glomcheck.analysis"

# Redis re-delivers an unacked message after this long; it must exceed the longest job, or a slow
# job would run twice in parallel (the lease in the job row would then stop the second one).
REDIS_VISIBILITY_TIMEOUT_S = 6 * 3600

# The embedded broker polls its SQLite table; kombu's 1 s default adds a second to every job start.
EMBEDDED_POLLING_INTERVAL_S = 0.1


class _EmbeddedChannel(kombu_sqla.Channel):
    """kombu's SQLAlchemy channel with SQLite tuned for several processes (WAL, long busy timeout)."""

    def _engine_from_config(self) -> Any:
        from sqlalchemy import create_engine, event

        engine = create_engine(self.connection.client.hostname, connect_args={"timeout": 30})

        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        event.listen(engine, "connect", _pragmas)
        return engine


class EmbeddedTransport(kombu_sqla.Transport):
    """kombu's `sqla` transport polling every 0.1 s (its polling option cannot be set via the URL:
    the stock channel forwards every transport option to `create_engine`)."""

    Channel = _EmbeddedChannel
    polling_interval = EMBEDDED_POLLING_INTERVAL_S


# A URL-safe alias (no '.' or ':'), so `glomsqla+sqlite:///…` selects the tuned transport.
kombu.transport.TRANSPORT_ALIASES["glomsqla"] = "worker.celery_app:EmbeddedTransport"


def task_queue() -> str:
    """Queue name (GLOMCHECK_TASK_QUEUE): lets deployments route analysis to GPU workers, tests isolate."""
    return get_settings().task_queue


def broker_url(settings: Settings) -> str:
    url = settings.effective_broker_url
    if url.startswith("sqla+sqlite"):
        return "glomsqla+" + url.removeprefix("sqla+")
    return url


def create_celery(settings: Settings | None = None) -> Celery:
    """A Celery app for these settings (the worker builds one at start; the API builds one to send)."""
    settings = settings or get_settings()
    url = broker_url(settings)
    embedded = settings.uses_embedded_broker
    app = Celery("glomcheck", broker=url, include=["worker.tasks"])
    transport_options: dict[str, Any] = {}
    if url.startswith(("redis", "rediss")):
        # above the longest job, or Redis hands a running job to a second worker
        transport_options["visibility_timeout"] = max(REDIS_VISIBILITY_TIMEOUT_S, 2 * settings.job_time_limit_s)
    app.conf.update(
        task_default_queue=task_queue(),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        # A message is acked only after the task returns; a worker killed mid-job leaves it unacked.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Results live in the database, so there is nothing to wait for from a dead pool child; the
        # 10 s default only delays re-queueing its message (and so the next job).
        worker_lost_wait=1.0,
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        worker_send_task_events=False,
        # The SQLAlchemy transport has no fanout, which Celery's remote control (pidbox) needs.
        worker_enable_remote_control=not embedded,
        worker_hijack_root_logger=False,
        broker_pool_limit=4,
    )
    return app


_sender: tuple[str, str, Celery] | None = None


def sender() -> Celery:
    """The API process's app for sending, rebuilt if the broker URL or queue changed (tests do that)."""
    global _sender
    settings = get_settings()
    key = (broker_url(settings), task_queue())
    if _sender is None or _sender[:2] != key:
        _sender = (*key, create_celery(settings))
    return _sender[2]


def send_analyze(job_id: int) -> None:
    """Wake a worker for this job; call only after the job row is committed."""
    sender().send_task(ANALYZE_TASK, args=[int(job_id)], queue=task_queue())


def prepare_broker() -> None:
    """Create the embedded broker's tables now, so processes starting together do not race to do it."""
    with sender().connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
        conn.default_channel.queue_declare(queue=task_queue(), durable=True, auto_delete=False)


def purge_delivered_messages() -> int:
    """Delete messages the embedded broker has already handed out.

    kombu's SQLAlchemy transport only flags a delivered message invisible and never reads it again
    (an unacked message is re-published as a new row), so without this the table grows forever.
    """
    settings = get_settings()
    if not settings.uses_embedded_broker:
        return 0
    import sqlite3

    path = settings.effective_broker_url.removeprefix("sqla+sqlite:///")
    con = sqlite3.connect(path, timeout=30)
    try:
        with con:
            return con.execute("DELETE FROM kombu_message WHERE visible = 0").rowcount
    except sqlite3.OperationalError:  # tables not created yet
        return 0
    finally:
        con.close()


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_engine_in_child(**_: Any) -> None:
    # A forked pool child must not use (or close) the parent's pooled connections: drop them
    # without closing, and let the child build its own engine on first use.
    from app.db.session import reset_engine

    reset_engine(close=False)


celery_app = create_celery()
