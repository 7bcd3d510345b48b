"""Stand-in analysis pipeline for the double-check loop (GLOMCHECK_ANALYSIS_PIPELINE points here).

Twelve glomeruli: seven normal, four with a cellular crescent, one globally sclerosed — Oxford C2,
H-Grade II — and a model card whose metrics pass the reliability minimum, written into the job result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.slides.reader import SlideReader
from tests.reports.factories import RELIABLE_CARD, glomeruli
from worker.jobs import CancelFn, ProgressFn


@dataclass
class Result:
    glomeruli: list[dict[str, Any]]
    timings_s: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=lambda: {"detector": "flow-det-1", "classifier": "flow-cls-1"})
    summary: dict[str, Any] = field(default_factory=lambda: {"pipeline": "flow", "model_card": RELIABLE_CARD})


def analyze(reader: SlideReader, *, mpp_override: float | None = None, progress: ProgressFn,
            should_cancel: CancelFn, stain: str | None = None) -> Result:
    progress("classify", 1.0)
    out = []
    for k, probs in enumerate(glomeruli(7, cellular_crescent=4, global_sclerosis=1)):
        x = 10 + 100 * k
        out.append({"polygon_px": [[x, 10], [x + 50, 10], [x + 50, 60]], "bbox_px": [x, 10, x + 50, 60],
                    "score": 0.9, "findings": probs, "status": "normal", "flags": [], "area_um2": 1000.0})
    return Result(glomeruli=out)
