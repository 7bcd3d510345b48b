"""Lupus nephritis (ISN/RPS 2018), glomerular part only: class III/IV/VI consistency and NIH indices."""

from __future__ import annotations

from app.assessment.case import (
    CaseView,
    Draft,
    RuleContext,
    at_least,
    below_minimum,
    build,
    missing_findings,
    more_than,
    percent,
)
from app.assessment.findings import Finding
from app.assessment.schemas import Assessment, Computable, Scheme

ACTIVE = (
    Finding.endocapillary_hypercellularity,
    Finding.cellular_crescent,
    Finding.fibrocellular_crescent,
    Finding.fibrinoid_necrosis,
)
NEEDED = (*ACTIVE, Finding.global_sclerosis, Finding.segmental_sclerosis, Finding.fibrous_crescent)
# IF and EM decide classes I, II, V and the final class; the glomerular findings cannot.
ALWAYS_MISSING = ["IF", "EM"]


def nih_score(count: int, n: int, cutoffs: tuple[float, float]) -> int:
    """0 none, 1 < 25 %, 2 25–50 % (both inclusive), 3 > 50 % of glomeruli."""
    if count == 0:
        return 0
    lo, hi = cutoffs
    if not at_least(count, n, lo):
        return 1
    return 3 if more_than(count, n, hi) else 2


def lupus_class(active: int, global_sclerosis: int, n: int, iv_pct: float, vi_pct: float) -> str | None:
    """VI if ≥ 90 % globally sclerosed, else IV if active ≥ 50 %, else III if any active lesion.

    With no active lesion the glomeruli say nothing about III vs I/II/V, so no class is claimed.
    """
    if at_least(global_sclerosis, n, vi_pct):
        return "VI"
    if active == 0:
        return None
    return "IV" if at_least(active, n, iv_pct) else "III"


def decide(case: CaseView, ctx: RuleContext) -> Draft:
    """Value with ``class``, ``active_percent`` and the glomerular NIH activity/chronicity parts."""
    cfg = ctx.config
    if (no := below_minimum(case, cfg.lupus_min_n)) is not None:
        return no
    if missing := missing_findings(case, NEEDED):
        return Draft(None, Computable.no, missing)
    n = case.n_assessable
    cut = cfg.nih_cutoffs
    active = case.count_any(*ACTIVE)
    gs = case.count_any(Finding.global_sclerosis)
    endo = nih_score(case.count_any(Finding.endocapillary_hypercellularity), n, cut)
    necrosis = 2 * nih_score(case.count_any(Finding.fibrinoid_necrosis), n, cut)
    crescents = 2 * nih_score(case.count_any(Finding.cellular_crescent, Finding.fibrocellular_crescent), n, cut)
    sclerosis = nih_score(case.count_any(Finding.global_sclerosis, Finding.segmental_sclerosis), n, cut)
    fibrous = nih_score(case.count_any(Finding.fibrous_crescent), n, cut)
    value = {
        "class": lupus_class(active, gs, n, cfg.lupus_class_iv_percent, cfg.lupus_class_vi_percent),
        "active_percent": percent(active, n),
        "global_sclerosis_percent": percent(gs, n),
        "nih_endocapillary_hypercellularity": endo,
        "nih_fibrinoid_necrosis": necrosis,
        "nih_cellular_fibrocellular_crescents": crescents,
        "nih_activity_glomerular": endo + necrosis + crescents,
        "nih_glomerulosclerosis": sclerosis,
        "nih_fibrous_crescents": fibrous,
        "nih_chronicity_glomerular": sclerosis + fibrous,
    }
    return Draft(value, Computable.partial, list(ALWAYS_MISSING))


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    return build(Scheme.lupus_nephritis, case, ctx, ctx.config.lupus_min_n, decide(case, ctx))
