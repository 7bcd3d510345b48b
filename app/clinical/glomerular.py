"""Case-level glomerular counts read straight from the latest succeeded analysis of each slide.

Used by the proteinuria outlook and the research export until the assessment service lands. A finding
counts as present at probability ≥ ``PRESENT_AT`` (the usual model-card ``t_hi``); indeterminate and
not-assessable glomeruli never enter a numerator, as DOMAIN.md §2 requires. Slides of one case cannot
be deduplicated here, so one slide is used: the PAS slide (else any) with the most assessable glomeruli.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import AnalysisJob, Glomerulus, GlomerulusStatus, JobState, Slide, Stain

PRESENT_AT = 0.5
OXFORD_MIN_N = 8  # DOMAIN.md §3
CRESCENTS = ("cellular_crescent", "fibrocellular_crescent", "fibrous_crescent")
FINDINGS = (
    "global_sclerosis", "segmental_sclerosis", *CRESCENTS, "endocapillary_hypercellularity",
    "mesangial_hypercellularity", "nodular_sclerosis", "fibrinoid_necrosis",
)


@dataclass
class GlomerularSummary:
    slide_id: int
    job_id: int
    stain: str
    n_glomeruli: int
    n_assessable: int
    counts: dict[str, int]
    n_any_crescent: int
    model_versions: dict[str, str] = field(default_factory=dict)

    def pct(self, n: int) -> float | None:
        return round(100.0 * n / self.n_assessable, 1) if self.n_assessable else None

    @property
    def pct_global_sclerosis(self) -> float | None:
        return self.pct(self.counts["global_sclerosis"])

    @property
    def pct_crescent(self) -> float | None:
        return self.pct(self.n_any_crescent)

    def oxford(self) -> dict[str, int | None]:
        """M, E, S as 0/1, or None below the Oxford minimum of assessable glomeruli."""
        n = self.n_assessable
        if n < OXFORD_MIN_N:
            return {"M": None, "E": None, "S": None}
        return {
            "M": int(self.counts["mesangial_hypercellularity"] * 2 > n),
            "E": int(self.counts["endocapillary_hypercellularity"] >= 1),
            "S": int(self.counts["segmental_sclerosis"] >= 1),
        }


def latest_jobs(session: Session, slide_ids: Sequence[int]) -> dict[int, AnalysisJob]:
    """slide id → its most recent succeeded analysis job."""
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


def summarise(glomeruli: Sequence[Glomerulus]) -> tuple[int, dict[str, int], int]:
    """(n assessable, present count per finding, glomeruli with any crescent)."""
    counts = dict.fromkeys(FINDINGS, 0)
    n_assessable = any_cres = 0
    for g in glomeruli:
        if g.status == GlomerulusStatus.not_assessable:
            continue
        n_assessable += 1
        if g.status == GlomerulusStatus.indeterminate:
            continue
        present = {k for k, p in (g.findings or {}).items() if k in counts and p >= PRESENT_AT}
        for k in present:
            counts[k] += 1
        any_cres += bool(present & set(CRESCENTS))
    return n_assessable, counts, any_cres


def case_summary(session: Session, case_id: int) -> GlomerularSummary | None:
    """The glomerular summary of the case, or None when no slide has a succeeded analysis."""
    slides = list(session.execute(select(Slide).where(Slide.case_id == case_id)).scalars())
    jobs = latest_jobs(session, [s.id for s in slides])
    best: GlomerularSummary | None = None
    for s in slides:
        job = jobs.get(s.id)
        if job is None:
            continue
        glom = list(session.execute(select(Glomerulus).where(Glomerulus.job_id == job.id)).scalars())
        n_ass, counts, any_cres = summarise(glom)
        cand = GlomerularSummary(s.id, job.id, s.stain, len(glom), n_ass, counts, any_cres, dict(job.model_versions or {}))
        rank = (cand.stain == Stain.pas, cand.n_assessable)
        if best is None or rank > (best.stain == Stain.pas, best.n_assessable):
            best = cand
    return best
