"""Worker knobs come from the one settings object; the after-fork hook drops the engine without closing it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import get_settings
from app.db import session as db_session


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set GLOMCHECK_* variables for one test; the previous environment and engine come back afterwards."""
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()
    db_session.reset_engine()


def _apply(env: pytest.MonkeyPatch, **values: str) -> None:
    for k, v in values.items():
        env.setenv(f"GLOMCHECK_{k.upper()}", v)
    get_settings.cache_clear()
    db_session.reset_engine()


def test_worker_knobs_are_app_settings_with_unchanged_env_names(env: pytest.MonkeyPatch) -> None:
    from tests.worker import fake_pipeline
    from worker import celery_app, jobs

    for k in ("task_queue", "analysis_pipeline", "reaper_interval_s", "queued_resend_after_s",
              "progress_write_interval_s"):
        env.delenv(f"GLOMCHECK_{k.upper()}", raising=False)
    _apply(env)
    s = get_settings()
    assert (s.task_queue, s.analysis_pipeline, s.reaper_interval_s, s.queued_resend_after_s,
            s.progress_write_interval_s) == ("glomcheck.analysis", None, None, 300.0, 0.5)
    _apply(env, task_queue="q.test", analysis_pipeline="tests.worker.fake_pipeline:analyze",
           reaper_interval_s="1.5", queued_resend_after_s="7", progress_write_interval_s="0.1")
    s = get_settings()
    assert (s.task_queue, s.analysis_pipeline, s.reaper_interval_s, s.queued_resend_after_s,
            s.progress_write_interval_s) == ("q.test", "tests.worker.fake_pipeline:analyze", 1.5, 7.0, 0.1)
    assert celery_app.task_queue() == "q.test"
    assert jobs.resolve_pipeline() is fake_pipeline.analyze
    assert jobs.Reaper(send=lambda _: None).interval_s == 1.5
    assert not hasattr(jobs, "JobSettings")


def test_after_fork_hook_disposes_without_closing(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from worker import celery_app

    _apply(env, database_url=f"sqlite:///{tmp_path / 'x.db'}", var_dir=str(tmp_path / "var"))
    engine = db_session.get_engine()
    calls: list[bool] = []
    env.setattr(type(engine), "dispose", lambda self, close=True: calls.append(close))
    celery_app._fresh_engine_in_child()
    assert calls == [False]
    assert db_session.get_engine() is not engine
