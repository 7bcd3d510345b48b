"""Oxford MEST-C classification of IgA nephropathy (DOMAIN.md §3)."""

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
)
from app.assessment.findings import Finding
from app.assessment.schemas import Assessment, Computable, Scalar, Scheme

NEEDED = {
    "M": [Finding.mesangial_hypercellularity],
    "E": [Finding.endocapillary_hypercellularity],
    "S": [Finding.segmental_sclerosis],
    "C": [Finding.cellular_crescent, Finding.fibrocellular_crescent],
}


def decide(case: CaseView, ctx: RuleContext) -> Draft:
    """Value ``{"M", "E", "S", "T", "C"}`` as integers; a component that cannot be scored is None.

    T is tubulointerstitial, not glomerular, so it is only ever copied from the pathologist's report.
    """
    cfg = ctx.config
    if (no := below_minimum(case, cfg.mestc_min_n)) is not None:
        return no
    n = case.n_assessable
    value: dict[str, Scalar] = {}
    missing: list[str] = []
    for component, findings in NEEDED.items():
        if gaps := missing_findings(case, findings):
            value[component] = None
            missing.extend(gaps)
            continue
        count = case.count_any(*findings)
        if component == "M":
            value["M"] = int(more_than(count, n, cfg.mestc_m1_percent))
        elif component in ("E", "S"):
            value[component] = int(count >= 1)
        elif count == 0:
            value["C"] = 0
        else:
            value["C"] = 2 if at_least(count, n, cfg.mestc_c2_percent) else 1
    value["T"] = ctx.report_T
    if ctx.report_T is None:
        missing.append("T")
    ordered = {k: value[k] for k in ("M", "E", "S", "T", "C")}
    return Draft(ordered, Computable.partial if missing else Computable.full, missing)


def assess(case: CaseView, ctx: RuleContext) -> Assessment:
    return build(Scheme.oxford_mestc, case, ctx, ctx.config.mestc_min_n, decide(case, ctx))
