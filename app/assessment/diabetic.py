"""Diabetic nephropathy (RPS 2010), glomerular part: classes IV and III only."""

from __future__ import annotations

from app.assessment.case import (
    CaseView,
    Draft,
    RuleContext,
    below_minimum,
    build,
    missing_findings,
    more_than,
)
from app.assessment.findings import Finding
from app.assessment.schemas import Assessment, Computable, Scheme

# Classes I–II rest on GBM thickening (EM) and mesangial expansion, which ontology v1 does not score.
NOT_FROM_FINDINGS = ["EM", "mesangial_expansion"]


def decide(case: CaseView, ctx: RuleContext) -> Draft:
    """IV if > 50 % globally sclerosed, else III if ≥ 1 nodule, else no class (I–II not computable)."""
    cfg = ctx.config
    if (no := below_minimum(case, cfg.diabetic_min_n)) is not None:
        return no
    if missing := missing_findings(case, [Finding.global_sclerosis, Finding.nodular_sclerosis]):
        return Draft(None, Computable.no, missing)
    if more_than(case.count_any(Finding.global_sclerosis), case.n_assessable, cfg.diabetic_class_iv_percent):
        return Draft("IV", Computable.partial, list(NOT_FROM_FINDINGS))
    if case.count_any(Finding.nodular_sclerosis) >= 1:
        return Draft("III", Computable.partial, list(NOT_FROM_FINDINGS))
    return Draft(None, Computable.no, list(NOT_FROM_FINDINGS))


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    return build(Scheme.diabetic_nephropathy, case, ctx, ctx.config.diabetic_min_n, decide(case, ctx))
