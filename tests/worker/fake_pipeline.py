"""A deterministic stand-in pipeline for job-machinery tests (GLOMCHECK_ANALYSIS_PIPELINE points here).

It produces N_GLOMERULI fixed glomeruli and spends GLOMCHECK_TEST_STAGE_DELAY_S seconds in each of
three stages, polling `should_cancel`, so a test can kill or cancel a worker mid-job deterministically.
GLOMCHECK_TEST_FAIL=1 makes it raise a non-transient error.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from app.slides.reader import SlideReader
from worker.jobs import CancelFn, JobCancelled, ProgressFn

N_GLOMERULI = 5
STAGES = ("tissue", "detection", "classification")


@dataclass
class FakeResult:
    glomeruli: list[dict[str, Any]]
    timings_s: dict[str, float] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=lambda: [{"name": "fake_detector", "version": "1"}])
    summary: dict[str, Any] = field(default_factory=lambda: {"pipeline": "fake"})


def analyze(reader: SlideReader, *, mpp_override: float | None = None, progress: ProgressFn,
            should_cancel: CancelFn, stain: str | None = None) -> FakeResult:
    delay = float(os.environ.get("GLOMCHECK_TEST_STAGE_DELAY_S", "0"))
    if os.environ.get("GLOMCHECK_TEST_FAIL") == "1":
        raise ValueError("fake pipeline failure")
    timings: dict[str, float] = {}
    for stage in STAGES:
        t = time.perf_counter()
        end = time.monotonic() + delay
        while True:
            progress(stage, min(1.0, 1 - (end - time.monotonic()) / delay) if delay else 1.0)
            if should_cancel():
                raise JobCancelled()
            if time.monotonic() >= end:
                break
            time.sleep(min(0.05, delay))
        timings[stage] = time.perf_counter() - t
    w, h = reader.dimensions
    glomeruli = [
        {"polygon_px": [[10 + 100 * k, 10], [60 + 100 * k, 10], [60 + 100 * k, 60]],
         "bbox_px": [10 + 100 * k, 10, 60 + 100 * k, 60], "score": 0.9, "findings": {"global_sclerosis": 0.1},
         "status": "normal", "flags": [], "area_um2": 1000.0 + k}
        for k in range(N_GLOMERULI)
        if 60 + 100 * k < w and 60 < h
    ]
    return FakeResult(glomeruli=glomeruli, timings_s=timings, summary={"pipeline": "fake", "stain": stain})
