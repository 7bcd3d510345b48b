"""Request and response shapes of the clinical API; ranges live in ``fields.py`` so CSV shares them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.clinical.fields import EGFR_UNIT, UNITS, Haematuria, ProteinUnit, Sex


class _Measurements(BaseModel):
    model_config = ConfigDict(extra="forbid")

    systolic_bp_mmhg: int | None = None
    diastolic_bp_mmhg: int | None = None
    creatinine_mg_dl: float | None = None
    urinary_protein: float | None = None
    urinary_protein_unit: ProteinUnit | None = None
    haematuria: Haematuria | None = None


class ClinicalIn(_Measurements):
    """The whole baseline record: PUT replaces it, so an omitted field becomes empty."""

    biopsy_date: date | None = None
    age_years: int | None = None
    sex: Sex | None = None
    clinical_diagnosis: str | None = Field(default=None, max_length=200)
    history: str | None = Field(default=None, max_length=4000)


class FollowupIn(_Measurements):
    measured_on: date
    note: str | None = Field(default=None, max_length=2000)


class FollowupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    measured_on: date
    days_after_biopsy: int | None = None
    systolic_bp_mmhg: int | None
    diastolic_bp_mmhg: int | None
    creatinine_mg_dl: float | None
    egfr: float | None
    urinary_protein: float | None
    urinary_protein_unit: str | None
    haematuria: str | None
    note: str | None


class ClinicalOut(BaseModel):
    """Baseline plus follow-ups; ``recorded`` is false until someone has entered anything."""

    case_id: int
    case_number: str
    recorded: bool
    biopsy_date: date | None = None
    age_years: int | None = None
    sex: str | None = None
    clinical_diagnosis: str | None = None
    history: str | None = None
    systolic_bp_mmhg: int | None = None
    diastolic_bp_mmhg: int | None = None
    creatinine_mg_dl: float | None = None
    egfr: float | None = None
    egfr_unit: str = EGFR_UNIT
    egfr_note: str | None = None
    urinary_protein: float | None = None
    urinary_protein_unit: str | None = None
    haematuria: str | None = None
    updated_at: datetime | None = None
    units: dict[str, str] = Field(default_factory=lambda: dict(UNITS))
    followups: list[FollowupOut] = Field(default_factory=list)


class RowError(BaseModel):
    line: int
    case_number: str | None
    errors: list[dict[str, str]]


class ImportOut(BaseModel):
    n_rows: int
    baseline_upserted: int
    followups_written: int
    case_numbers: list[str]


class FieldInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str
    type: str


class OutlookInterval(BaseModel):
    low: float
    high: float
    level: float


class OutlookOut(BaseModel):
    """Either a prediction with its interval, or ``computable: false`` and what is missing."""

    case_id: int
    computable: bool
    prediction_g_per_day: float | None = None
    interval_g_per_day: OutlookInterval | None = None
    horizon_months: int = 12
    missing: list[str] = Field(default_factory=list)
    missing_detail: list[str] = Field(default_factory=list)
    inputs: dict[str, Any] = Field(default_factory=dict)
    model: dict[str, Any] = Field(default_factory=dict)
    synthetic_cohort: bool = True
    caveat: str  # English
    # The same caveat as parts the UI phrases in its language: {"code": "synthetic_cohort_v1"} (the shipped
    # card's words), {"code": "card_text", "text"} (a card caveat with no translation: shown as written),
    # {"code": "research_estimate", "months"} (the outlook's general caveat).
    caveat_data: list[dict[str, Any]] = Field(default_factory=list)
