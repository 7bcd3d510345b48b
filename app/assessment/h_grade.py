"""Japanese Histologic Classification of IgA nephropathy (2013): H-Grade and lesion type."""

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
from app.assessment.findings import Finding
from app.assessment.schemas import Assessment, Computable, Scheme

ACUTE = (Finding.cellular_crescent, Finding.fibrocellular_crescent)
CHRONIC = (Finding.global_sclerosis, Finding.segmental_sclerosis, Finding.fibrous_crescent)
GRADES = ("I", "II", "III", "IV")


def grade(count: int, n: int, cutoffs: tuple[float, float, float]) -> str:
    """I < 25 %, II 25–49.9 %, III 50–74.9 %, IV ≥ 75 % (cut-offs inclusive from below)."""
    level = sum(1 for c in cutoffs if at_least(count, n, c))
    return GRADES[level]


def lesion_type(acute: int, chronic: int) -> str | None:
    """A (acute only), C (chronic only), A/C (both), None when no GLPS lesion at all."""
    if acute and chronic:
        return "A/C"
    if acute:
        return "A"
    if chronic:
        return "C"
    return None


def decide(case: CaseView, ctx: RuleContext) -> Draft:
    """Value ``{"grade", "glps_percent", "lesion_type"}``."""
    if (no := below_minimum(case, ctx.config.h_grade_min_n)) is not None:
        return no
    if missing := missing_findings(case, ACUTE + CHRONIC):
        return Draft(None, Computable.no, missing)
    n = case.n_assessable
    glps = case.count_any(*ACUTE, *CHRONIC)
    return Draft(
        {
            "grade": grade(glps, n, ctx.config.h_grade_cutoffs),
            "glps_percent": percent(glps, n),
            "lesion_type": lesion_type(case.count_any(*ACUTE), case.count_any(*CHRONIC)),
        },
        Computable.full,
    )


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    return build(Scheme.japanese_h_grade, case, ctx, ctx.config.h_grade_min_n, decide(case, ctx))
