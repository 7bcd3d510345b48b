"""On a failed e2e test, save a screenshot of every open page (test-artifacts/screenshots/FAILED-*.png)."""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome: Any = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    browser = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if browser is None:
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    for i, ctx in enumerate(browser.contexts):
        for j, page in enumerate(ctx.pages):
            try:
                page.screenshot(path=str(SHOTS / f"FAILED-{item.name}-{i}-{j}.png"))
            except Exception as exc:  # noqa: BLE001 - best effort while reporting a failure
                logging.getLogger(__name__).warning("no failure screenshot: %s", exc)
