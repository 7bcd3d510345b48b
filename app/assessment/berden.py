"""Berden histopathological classification of ANCA-associated glomerulonephritis."""

from __future__ import annotations

from app.assessment.case import CaseView, Draft, RuleContext, at_least, below_minimum, build, missing_findings
from app.assessment.findings import Finding, GlomerulusStatus
from app.assessment.schemas import Assessment, Computable, Scheme

CLASSES = ("focal", "crescentic", "mixed", "sclerotic")  # in order of worsening renal outcome


def decide(case: CaseView, ctx: RuleContext) -> Draft:
    """Rules applied in the published order: sclerotic, focal, crescentic, else mixed.

    "Normal" needs every finding absent, so a model card that misses any finding makes the
    focal rule (and hence the class) not computable rather than optimistic.
    """
    cfg = ctx.config
    if (no := below_minimum(case, cfg.berden_min_n)) is not None:
        return no
    if missing := missing_findings(case, list(Finding)):
        return Draft(None, Computable.no, missing)
    n = case.n_assessable
    pct = cfg.berden_percent
    if at_least(case.count_any(Finding.global_sclerosis), n, pct):
        value = "sclerotic"
    elif at_least(case.n_status(GlomerulusStatus.normal), n, pct):
        value = "focal"
    elif at_least(case.count_any(Finding.cellular_crescent), n, pct):
        value = "crescentic"
    else:
        value = "mixed"
    return Draft(value, Computable.full)


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    return build(Scheme.berden, case, ctx, ctx.config.berden_min_n, decide(case, ctx))
