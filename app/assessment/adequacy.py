"""Banff-style specimen adequacy (DOMAIN.md §3)."""

from __future__ import annotations

from typing import Literal

from app.assessment.case import CaseView, RuleContext
from app.assessment.config import AssessmentConfig
from app.assessment.schemas import AdequacyCheck, Assessment, Computable, Scheme

AdequacyCategory = Literal["adequate", "minimal", "inadequate"]


def adequacy_category(n_glomeruli: int, config: AssessmentConfig) -> AdequacyCategory:
    """Category of a glomerulus count; used for the AI's count and the pathologist's alike."""
    if n_glomeruli >= config.adequacy_adequate_n:
        return "adequate"
    if n_glomeruli >= config.adequacy_minimal_n:
        return "minimal"
    return "inadequate"


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    """Counts every detected glomerulus, including not-assessable ones (they count for adequacy only).

    ``adequacy.met`` means "not inadequate": that is the line below which no score is raised.
    """
    category = adequacy_category(case.n_glomeruli, ctx.config)
    return Assessment(
        scheme=Scheme.adequacy,
        value=category,
        inputs=case.inputs(),
        adequacy=AdequacyCheck(threshold=ctx.config.adequacy_minimal_n, met=category != "inadequate"),
        computable=Computable.full,
        missing=[],
        model_versions=list(ctx.model_versions),
    )
