"""The proteinuria outlook of a case: gather the model's inputs, say what is missing, or predict."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.assessment import AssessmentConfig
from app.clinical.glomerular import case_summary
from app.clinical.schemas import OutlookInterval, OutlookOut
from app.clinical.service import baseline_of, scoped_case
from app.db.models import User
from app.errors import DomainError
from app.model_cards.service import KNOWN_CARD_CAVEATS
from app.reports.service import ensure_ai_visible
from worker import proteinuria

HORIZON_MONTHS = 12  # OutlookOut.horizon_months

GENERIC_CAVEAT = (
    f"Research estimate of urinary protein {HORIZON_MONTHS} months after biopsy, "
    "for a population like the model's cohort; treatment is not taken into account. It does not replace clinical judgement."
)

# The caveat as data, so each UI language can phrase it (the English ``caveat`` string stays for API clients):
# a list of {"code", params…}. A model card's caveat gets a code only when its exact words are known
# (`KNOWN_CARD_CAVEATS`, shared with the model cards page). Any other card caveat goes out as
# {"code": "card_text", "text": <the card's own words>}, shown as written.


def caveat_data(*, card_caveat: str | None, synthetic: bool, horizon_months: int) -> list[dict[str, Any]]:
    """The parts of ``caveat`` as codes + parameters, in the same order as the English sentence."""
    parts: list[dict[str, Any]] = []
    if synthetic:
        text = str(card_caveat or "")
        code = KNOWN_CARD_CAVEATS.get(text)
        parts.append({"code": code} if code else {"code": "card_text", "text": text})
    parts.append({"code": "research_estimate", "months": horizon_months})
    return parts


OXFORD_MIN_N = AssessmentConfig().mestc_min_n  # the default; institutions may change it

# Why an input can be missing, in words a clinician can act on.
SOURCES = {
    "age_years": "clinical data: age",
    "female": "clinical data: sex",
    "egfr": "clinical data: eGFR (needs serum creatinine, age ≥ 18 and sex)",
    "systolic_bp_mmhg": "clinical data: systolic blood pressure",
    "urinary_protein_g_day": "clinical data: urinary protein at biopsy",
    "pct_global_sclerosis": "glomerular assessment: % global sclerosis (needs a finished analysis with enough "
                            "assessable glomeruli)",
    "pct_crescent": "glomerular assessment: % crescents (needs a finished analysis covering every crescent type)",
    "oxford_m": f"glomerular assessment: Oxford M (needs ≥ {OXFORD_MIN_N} assessable glomeruli)",
    "oxford_e": f"glomerular assessment: Oxford E (needs ≥ {OXFORD_MIN_N} assessable glomeruli)",
    "oxford_s": f"glomerular assessment: Oxford S (needs ≥ {OXFORD_MIN_N} assessable glomeruli)",
}


class ModelUnavailableError(DomainError):
    status_code = 503
    code = "model_unavailable"


def _pct(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def case_inputs(session: Session, case_id: int) -> tuple[dict[str, float | None], dict[str, Any]]:
    """The model's named inputs for a case (None when unknown) and where the glomerular ones came from."""
    rec = baseline_of(session, case_id)
    summ = case_summary(session, case_id)
    ox = summ.oxford if summ else {"M": None, "E": None, "S": None}
    values: dict[str, float | None] = {
        "age_years": rec.age_years if rec else None,
        "female": (1.0 if rec.sex == "female" else 0.0) if rec and rec.sex else None,
        "egfr": rec.egfr if rec else None,
        "systolic_bp_mmhg": rec.systolic_bp_mmhg if rec else None,
        "urinary_protein_g_day": rec.urinary_protein if rec else None,
        "pct_global_sclerosis": _pct(summ.pct_global_sclerosis) if summ else None,
        "pct_crescent": _pct(summ.pct_crescent) if summ else None,
        "oxford_m": ox["M"], "oxford_e": ox["E"], "oxford_s": ox["S"],
    }
    source: dict[str, Any] = {"glomerular": None if summ is None else {
        "assessment_id": summ.assessment_id, "computed_at": summ.computed_at.isoformat(),
        "rules_version": summ.rules_version, "analysis_job_ids": summ.job_ids, "stain": summ.stain,
        "n_glomeruli": summ.n_glomeruli, "n_assessable": summ.n_assessable}}
    if rec is not None and rec.urinary_protein_unit:
        source["urinary_protein_unit"] = rec.urinary_protein_unit
    return values, source


def outlook(session: Session, *, user: User, case_id: int) -> OutlookOut:
    """Prediction and interval, or ``computable: false`` with the missing inputs; never a guess."""
    case = scoped_case(session, user, case_id)
    # The outlook's inputs include the AI's glomerular assessment: blinded like every AI result.
    ensure_ai_visible(session, case_id=case.id, user=user)
    try:
        model = proteinuria.load()
    except proteinuria.ModelUnavailable as exc:
        raise ModelUnavailableError(f"The proteinuria model cannot be used: {exc}") from exc
    values, source = case_inputs(session, case.id)
    caveat = (str(model.card["caveat"]) + " " + GENERIC_CAVEAT) if model.synthetic else GENERIC_CAVEAT
    parts = caveat_data(card_caveat=model.card.get("caveat"), synthetic=model.synthetic,
                        horizon_months=HORIZON_MONTHS)
    inputs: dict[str, Any] = {**values, **source}
    common = OutlookOut(case_id=case.id, computable=False, model=model.describe(), synthetic_cohort=model.synthetic,
                        caveat=caveat, caveat_data=parts, inputs=inputs)
    gaps = model.missing(values)
    if gaps:
        return common.model_copy(update={"missing": gaps, "missing_detail": [SOURCES.get(g, g) for g in gaps]})
    pred = model.predict(values)
    inputs["warnings"] = pred.warnings
    return common.model_copy(update={
        "computable": True, "prediction_g_per_day": pred.value_g_day,
        "interval_g_per_day": OutlookInterval(low=pred.low_g_day, high=pred.high_g_day, level=pred.level)})
