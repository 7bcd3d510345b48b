"""Crescentic glomerulonephritis pattern and crescent percentage."""

from __future__ import annotations

from app.assessment.case import (
    CaseView,
    Draft,
    RuleContext,
    at_least,
    below_minimum,
    build,
    missing_findings,
    percent,
)
from app.assessment.findings import CRESCENTS, Finding
from app.assessment.schemas import Assessment, Computable, Scheme

ANY_CRESCENT = tuple(f for f in Finding if f in CRESCENTS)


def decide(case: CaseView, ctx: RuleContext) -> Draft:
    """Value ``{"crescentic", "crescent_percent"}``; the percentage is reported even below the minimum."""
    if missing := missing_findings(case, ANY_CRESCENT):
        return Draft(None, Computable.no, missing)
    n = case.n_assessable
    count = case.count_any(*ANY_CRESCENT)
    if (no := below_minimum(case, ctx.config.crescentic_min_n)) is not None:
        return Draft({"crescentic": None, "crescent_percent": percent(count, n)}, no.computable, no.missing)
    return Draft(
        {"crescentic": at_least(count, n, ctx.config.crescentic_percent), "crescent_percent": percent(count, n)},
        Computable.full,
    )


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    return build(Scheme.crescentic_pattern, case, ctx, ctx.config.crescentic_min_n, decide(case, ctx))
