"""Percent global sclerosis = global_sclerosis / N × 100 (DOMAIN.md §3)."""

from __future__ import annotations

from app.assessment.case import CaseView, Draft, RuleContext, below_minimum, build, missing_findings, percent
from app.assessment.findings import Finding
from app.assessment.schemas import Assessment, Computable, Scheme


def decide(case: CaseView, ctx: RuleContext) -> Draft:
    minimum = ctx.config.percent_global_sclerosis_min_n
    if (no := below_minimum(case, minimum)) is not None:
        return no
    if missing := missing_findings(case, [Finding.global_sclerosis]):
        return Draft(None, Computable.no, missing)
    return Draft(percent(case.count_any(Finding.global_sclerosis), case.n_assessable), Computable.full)


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    """Percentage in [0, 100] over assessable glomeruli."""
    minimum = ctx.config.percent_global_sclerosis_min_n
    return build(Scheme.percent_global_sclerosis, case, ctx, minimum, decide(case, ctx))
