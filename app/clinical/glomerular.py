"""The case-level glomerular figures other features use, read from the stored case assessment.

The assessment service (``CaseAssessment``, written by ``on_ai_results`` / ``recompute``) is the one
place that turns per-glomerulus probabilities into counts, with the model card's thresholds and
indeterminate handling (DOMAIN.md §2–§3). The proteinuria outlook and the research export read its
newest row; without one, every figure is missing — they never count glomeruli themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment import Finding, Scheme
from app.assessment.service import current
from app.db.models import AnalysisJob, CaseAssessment, JobState

FINDINGS: tuple[str, ...] = tuple(f.value for f in Finding)
OXFORD = ("M", "E", "S", "C")


@dataclass
class GlomerularSummary:
    """Figures of one stored assessment; None where the assessment could not compute them."""

    assessment_id: int
    computed_at: datetime
    rules_version: str
    stain: str | None
    job_ids: list[int]
    n_glomeruli: int
    n_assessable: int
    counts: dict[str, int]
    pct_global_sclerosis: float | None
    pct_crescent: float | None
    oxford: dict[str, int | None]
    adequacy: str | None
    model_versions: list[str] = field(default_factory=list)

    @property
    def n_any_crescent(self) -> int | None:
        if self.pct_crescent is None:
            return None
        return round(self.pct_crescent * self.n_assessable / 100)


def _results(row: CaseAssessment) -> dict[str, dict[str, Any]]:
    return {str(r.get("scheme")): r for r in row.results or []}


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def summary_of(row: CaseAssessment) -> GlomerularSummary:
    res = _results(row)
    inputs = (res.get(Scheme.adequacy.value) or next(iter(res.values()), {})).get("inputs") or {}
    gs = (res.get(Scheme.percent_global_sclerosis.value) or {}).get("value")
    cres = (res.get(Scheme.crescentic_pattern.value) or {}).get("value")
    ox = (res.get(Scheme.oxford_mestc.value) or {}).get("value")
    adequacy = (res.get(Scheme.adequacy.value) or {}).get("value")
    counts = {k: int(v) for k, v in (inputs.get("counts_by_finding") or {}).items()}
    return GlomerularSummary(
        assessment_id=row.id, computed_at=row.created_at, rules_version=row.rules_version, stain=row.stain,
        job_ids=list(row.job_ids or []), n_glomeruli=int(inputs.get("n_glomeruli") or 0),
        n_assessable=int(inputs.get("n_assessable") or 0), counts=counts,
        pct_global_sclerosis=float(gs) if isinstance(gs, (int, float)) and not isinstance(gs, bool) else None,
        pct_crescent=(float(cres["crescent_percent"]) if isinstance(cres, dict)
                      and isinstance(cres.get("crescent_percent"), (int, float)) else None),
        oxford={k: _int_or_none(ox.get(k)) if isinstance(ox, dict) else None for k in OXFORD},
        adequacy=adequacy if isinstance(adequacy, str) else None,
        model_versions=list(row.model_versions or []),
    )


def case_summary(session: Session, case_id: int) -> GlomerularSummary | None:
    """The case's current assessment as figures, or None when it has none (no finished analysis yet)."""
    row = current(session, case_id=case_id)
    return None if row is None else summary_of(row)


def latest_jobs(session: Session, slide_ids: Sequence[int]) -> dict[int, AnalysisJob]:
    """slide id → its most recent succeeded analysis job (the research export's per-slide GeoJSON)."""
    if not slide_ids:
        return {}
    jobs = session.execute(
        select(AnalysisJob).where(AnalysisJob.slide_id.in_(slide_ids), AnalysisJob.state == JobState.succeeded.value)
        .order_by(AnalysisJob.slide_id, AnalysisJob.finished_at, AnalysisJob.id)
    ).scalars()
    out: dict[int, AnalysisJob] = {}
    for j in jobs:  # ordered oldest → newest, so the last one wins
        out[j.slide_id] = j
    return out
