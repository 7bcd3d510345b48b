"""Runs every scheme on one case; the single entry point the service and worker call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from app.assessment import adequacy, berden, crescentic, diabetic, global_sclerosis, h_grade, lupus, oxford
from app.assessment.case import CaseView, RuleContext, classify
from app.assessment.config import AssessmentConfig
from app.assessment.findings import Finding, FindingState, Thresholds
from app.assessment.schemas import Assessment, GlomerulusRecord, Scheme, Value

SCHEMES: Mapping[Scheme, Callable[[CaseView, RuleContext], Assessment]] = {
    Scheme.adequacy: adequacy.assess,
    Scheme.percent_global_sclerosis: global_sclerosis.assess,
    Scheme.oxford_mestc: oxford.assess,
    Scheme.japanese_h_grade: h_grade.assess,
    Scheme.berden: berden.assess,
    Scheme.crescentic_pattern: crescentic.assess,
    Scheme.lupus_nephritis: lupus.assess,
    Scheme.diabetic_nephropathy: diabetic.assess,
}


def case_view(
    glomeruli: Iterable[GlomerulusRecord],
    thresholds: Mapping[str, Thresholds],
    config: AssessmentConfig,
) -> CaseView:
    """Classify the glomeruli; only findings the model card covers are available to the schemes."""
    available = frozenset(Finding(k) for k in thresholds)
    return CaseView(tuple(classify(glomeruli, thresholds, config)), available)


def evidence_by_finding(case: CaseView) -> dict[str, list[int]]:
    """Ids of the assessable glomeruli in which each finding is present (the viewer's evidence links)."""
    return {f.value: case.ids_present(f) for f in Finding if f in case.available}


def assess_case(
    glomeruli: Sequence[GlomerulusRecord],
    config: AssessmentConfig,
    model_cards_thresholds: Mapping[str, Thresholds],
    report_T: int | None = None,
    *,
    model_versions: Sequence[str] = (),
) -> dict[Scheme, Assessment]:
    """Every DOMAIN.md §3 assessment of one case (one stain, slides already deduplicated).

    Each result also carries the values it would take if all indeterminate findings were called
    absent or all present, so a disagreement that rests only on them can be demoted to info.
    """
    case = case_view(glomeruli, model_cards_thresholds, config)
    ctx = RuleContext(config=config, model_versions=tuple(model_versions), report_T=report_T)
    variants = [case.resolved(FindingState.absent), case.resolved(FindingState.present)]
    out: dict[Scheme, Assessment] = {}
    for scheme, rule in SCHEMES.items():
        base = rule(case, ctx)
        alternatives: list[Value] = []
        for variant in variants:
            v = rule(variant, ctx).value
            if v is not None and v != base.value and v not in alternatives:
                alternatives.append(v)
        out[scheme] = base.model_copy(update={"indeterminate_values": alternatives})
    return out
