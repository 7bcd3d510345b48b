"""Clinical data of a case: scoped reads and writes, eGFR derivation, plausibility checks.

Every function takes the acting user and resolves the case inside that user's institution, so a case
of another institution is indistinguishable from one that does not exist (404, never 403).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import record
from app.clinical.fields import EGFR_MIN_AGE, FieldError, check_values, egfr_japanese
from app.clinical.schemas import ClinicalIn, ClinicalOut, FollowupIn, FollowupOut
from app.db.models import Case, ClinicalFollowup, ClinicalRecord, User
from app.errors import Conflict, NotFound, Unprocessable

BASELINE_FIELDS = (
    "biopsy_date", "age_years", "sex", "clinical_diagnosis", "history", "systolic_bp_mmhg",
    "diastolic_bp_mmhg", "creatinine_mg_dl", "urinary_protein", "urinary_protein_unit", "haematuria",
)
FOLLOWUP_FIELDS = (
    "measured_on", "systolic_bp_mmhg", "diastolic_bp_mmhg", "creatinine_mg_dl", "urinary_protein",
    "urinary_protein_unit", "haematuria", "note",
)


def scoped_case(session: Session, user: User, case_id: int) -> Case:
    """The case if it belongs to the user's institution; otherwise the same 404 as a missing case."""
    case = session.get(Case, case_id)
    if case is None or case.institution_id != user.institution_id:
        raise NotFound(f"Case {case_id} does not exist.", code="case_not_found")
    return case


def implausible(errors: Sequence[FieldError]) -> Unprocessable:
    """The 422 for plausibility failures: the detail names each field and its range."""
    return Unprocessable("; ".join(e.msg for e in errors), code="implausible_value",
                         extra={"errors": [e.as_dict() for e in errors]})


def baseline_of(session: Session, case_id: int) -> ClinicalRecord | None:
    return session.execute(select(ClinicalRecord).where(ClinicalRecord.case_id == case_id)).scalar_one_or_none()


def followups_of(session: Session, case_id: int) -> list[ClinicalFollowup]:
    return list(session.execute(
        select(ClinicalFollowup).where(ClinicalFollowup.case_id == case_id).order_by(ClinicalFollowup.measured_on)
    ).scalars())


def followup_egfr(baseline: ClinicalRecord | None, measured_on: date, creatinine: float | None) -> float | None:
    """eGFR at follow-up: the patient has aged since the biopsy, so age is advanced by the interval."""
    if baseline is None or baseline.age_years is None:
        return None
    age: float = baseline.age_years
    if baseline.biopsy_date is not None:
        age += max(0, (measured_on - baseline.biopsy_date).days) / 365.25
    return egfr_japanese(creatinine, age, baseline.sex)


def apply_baseline(session: Session, *, case: Case, values: Mapping[str, Any], user: User) -> ClinicalRecord:
    """Create or update the baseline from already-validated values and recompute eGFR."""
    rec = baseline_of(session, case.id)
    if rec is None:
        rec = ClinicalRecord(case_id=case.id, institution_id=case.institution_id)
        session.add(rec)
    for name, value in values.items():
        setattr(rec, name, value)
    rec.egfr = egfr_japanese(rec.creatinine_mg_dl, rec.age_years, rec.sex)
    rec.updated_by_id = user.id
    session.flush()
    # Follow-up eGFR depends on baseline age, sex and biopsy date: keep it consistent.
    for f in followups_of(session, case.id):
        f.egfr = followup_egfr(rec, f.measured_on, f.creatinine_mg_dl)
    session.flush()
    return rec


def merged_baseline(existing: ClinicalRecord | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline as it would be after applying ``values`` (columns not given keep their value)."""
    out = {name: getattr(existing, name) if existing else None for name in BASELINE_FIELDS}
    out.update(values)
    return out


def read(session: Session, *, user: User, case_id: int) -> ClinicalOut:
    case = scoped_case(session, user, case_id)
    return to_out(session, case)


def to_out(session: Session, case: Case) -> ClinicalOut:
    rec = baseline_of(session, case.id)
    fups = followups_of(session, case.id)
    out = ClinicalOut(case_id=case.id, case_number=case.number, recorded=rec is not None)
    if rec is not None:
        for name in BASELINE_FIELDS:
            setattr(out, name, getattr(rec, name))
        out.egfr = rec.egfr
        out.updated_at = rec.updated_at
        if rec.egfr is None and rec.creatinine_mg_dl is not None:
            out.egfr_note = (f"eGFR not computed: the Japanese equation needs age ≥ {EGFR_MIN_AGE} years and sex"
                             if rec.age_years is None or rec.sex is None or rec.age_years < EGFR_MIN_AGE
                             else "eGFR not computed")
    biopsy = rec.biopsy_date if rec else None
    out.followups = [
        FollowupOut.model_validate(f).model_copy(
            update={"days_after_biopsy": (f.measured_on - biopsy).days if biopsy else None})
        for f in fups
    ]
    return out


def replace(session: Session, *, user: User, case_id: int, body: ClinicalIn) -> ClinicalOut:
    """PUT semantics: the body is the whole baseline record."""
    case = scoped_case(session, user, case_id)
    values = body.model_dump()
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in values.items()}
    errors = check_values(values, biopsy_date=body.biopsy_date)
    errors += _followup_dates_after(session, case.id, body.biopsy_date)
    if errors:
        raise implausible(errors)
    apply_baseline(session, case=case, values=values, user=user)
    record(session, "clinical.updated", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="case", object_id=case.id, details={"fields": sorted(k for k, v in values.items() if v is not None)})
    return to_out(session, case)


def _followup_dates_after(session: Session, case_id: int, biopsy: date | None) -> list[FieldError]:
    if biopsy is None:
        return []
    early = [f.measured_on for f in followups_of(session, case_id) if f.measured_on < biopsy]
    if not early:
        return []
    return [FieldError("biopsy_date", f"biopsy_date: {biopsy.isoformat()} is after follow-up measurements "
                                      f"({', '.join(d.isoformat() for d in early)})")]


def add_followup(session: Session, *, user: User, case_id: int, body: FollowupIn) -> FollowupOut:
    case = scoped_case(session, user, case_id)
    base = baseline_of(session, case.id)
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in body.model_dump().items()}
    errors = check_values(values, biopsy_date=base.biopsy_date if base else None, measured_on=body.measured_on)
    if errors:
        raise implausible(errors)
    exists = session.execute(select(ClinicalFollowup.id).where(
        ClinicalFollowup.case_id == case.id, ClinicalFollowup.measured_on == body.measured_on)).first()
    if exists:
        raise Conflict(f"Case {case.number} already has a follow-up on {body.measured_on.isoformat()}.",
                       code="followup_exists")
    f = ClinicalFollowup(case_id=case.id, institution_id=case.institution_id, created_by_id=user.id, **values)
    f.egfr = followup_egfr(base, f.measured_on, f.creatinine_mg_dl)
    session.add(f)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent insert of the same date
        raise Conflict(f"Case {case.number} already has a follow-up on {body.measured_on.isoformat()}.",
                       code="followup_exists") from exc
    record(session, "clinical.followup_added", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="case", object_id=case.id, details={"measured_on": body.measured_on.isoformat()})
    out = FollowupOut.model_validate(f)
    if base is not None and base.biopsy_date is not None:
        out.days_after_biopsy = (f.measured_on - base.biopsy_date).days
    return out
