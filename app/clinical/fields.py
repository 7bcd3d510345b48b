"""Units, controlled values and plausible ranges of the DOMAIN.md §6 clinical fields.

One table drives the API validation, the CSV import and the field list the UI renders, so the three
can never disagree about what "plausible" means.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

EGFR_UNIT = "mL/min/1.73 m²"
EGFR_MIN_AGE = 18  # the Japanese equation is validated for adults only


class Sex(StrEnum):
    male = "male"
    female = "female"


class ProteinUnit(StrEnum):
    g_per_day = "g/day"
    g_per_gcr = "g/gCr"


class Haematuria(StrEnum):
    """Urine dipstick grade, as recorded in the Japan Renal Biopsy Registry."""

    negative = "-"
    trace = "±"
    one = "1+"
    two = "2+"
    three = "3+"


@dataclass(frozen=True)
class Range:
    field: str
    unit: str
    low: float
    high: float
    hint: str = ""

    def check(self, value: float) -> str | None:
        """An error message when ``value`` is implausible, else None."""
        if not math.isfinite(value) or value < self.low or value > self.high:
            msg = f"{self.field}: {value:g} {self.unit} is outside the plausible range {self.low:g}–{self.high:g} {self.unit}"
            return msg + (f" ({self.hint})" if self.hint else "")
        return None


RANGES: Mapping[str, Range] = {
    r.field: r
    for r in (
        Range("age_years", "years", 0, 120),
        Range("systolic_bp_mmhg", "mmHg", 50, 300),
        Range("diastolic_bp_mmhg", "mmHg", 20, 200),
        Range("creatinine_mg_dl", "mg/dL", 0.1, 30,
              "creatinine is in mg/dL; a value in µmol/L must be divided by 88.4"),
        Range("urinary_protein", "g/day or g/gCr", 0, 50,
              "urinary protein is in g/day or g/gCr, not mg"),
    )
}

UNITS: Mapping[str, str] = {
    "age_years": "years",
    "systolic_bp_mmhg": "mmHg",
    "diastolic_bp_mmhg": "mmHg",
    "creatinine_mg_dl": "mg/dL",
    "egfr": EGFR_UNIT,
    "urinary_protein": "urinary_protein_unit (g/day | g/gCr)",
}


@dataclass(frozen=True)
class FieldError:
    field: str
    msg: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "msg": self.msg}


def check_values(values: Mapping[str, Any], *, biopsy_date: date | None = None,
                 measured_on: date | None = None) -> list[FieldError]:
    """Every plausibility problem of one baseline or follow-up record (empty list when fine)."""
    errors: list[FieldError] = []
    for name, rng in RANGES.items():
        v = values.get(name)
        if v is not None:
            msg = rng.check(float(v))
            if msg:
                errors.append(FieldError(name, msg))
    sbp, dbp = values.get("systolic_bp_mmhg"), values.get("diastolic_bp_mmhg")
    if sbp is not None and dbp is not None and dbp >= sbp:
        errors.append(FieldError("diastolic_bp_mmhg",
                                 f"diastolic_bp_mmhg: {dbp} mmHg must be lower than systolic ({sbp} mmHg)"))
    if values.get("urinary_protein") is not None and values.get("urinary_protein_unit") is None:
        errors.append(FieldError("urinary_protein_unit",
                                 "urinary_protein_unit: required with urinary_protein (g/day or g/gCr)"))
    today = date.today()
    for name, d in (("biopsy_date", biopsy_date), ("measured_on", measured_on)):
        if d is not None and not (date(1950, 1, 1) <= d <= today):
            errors.append(FieldError(name, f"{name}: {d.isoformat()} is outside 1950-01-01–today"))
    if biopsy_date is not None and measured_on is not None and measured_on < biopsy_date:
        errors.append(FieldError("measured_on",
                                 f"measured_on: {measured_on.isoformat()} is before the biopsy ({biopsy_date.isoformat()})"))
    return errors


def egfr_japanese(creatinine_mg_dl: float | None, age_years: float | None, sex: str | None) -> float | None:
    """eGFR (mL/min/1.73 m²) by the Japanese equation: 194 × Cr^−1.094 × age^−0.287 × 0.739 if female.

    None when an input is missing or the patient is a child (the equation is for adults).
    Rounded to 0.1 so stored and recomputed values compare equal.
    """
    if creatinine_mg_dl is None or age_years is None or sex is None or creatinine_mg_dl <= 0:
        return None
    if age_years < EGFR_MIN_AGE:
        return None
    value: float = 194.0 * float(creatinine_mg_dl) ** -1.094 * float(age_years) ** -0.287
    if sex == Sex.female:
        value *= 0.739
    return round(value, 1)


def field_catalogue() -> list[dict[str, Any]]:
    """What the UI needs to render the form: every field with unit, range and allowed values."""
    out: list[dict[str, Any]] = [
        {"field": "biopsy_date", "type": "date"},
        {"field": "age_years", "type": "integer"},
        {"field": "sex", "type": "choice", "choices": [s.value for s in Sex]},
        {"field": "clinical_diagnosis", "type": "text", "max_length": 200},
        {"field": "history", "type": "text", "max_length": 4000},
        {"field": "systolic_bp_mmhg", "type": "integer"},
        {"field": "diastolic_bp_mmhg", "type": "integer"},
        {"field": "creatinine_mg_dl", "type": "number"},
        {"field": "egfr", "type": "number", "computed": True,
         "formula": "194 × Cr^−1.094 × age^−0.287 × 0.739 if female (adults only)"},
        {"field": "urinary_protein", "type": "number"},
        {"field": "urinary_protein_unit", "type": "choice", "choices": [u.value for u in ProteinUnit]},
        {"field": "haematuria", "type": "choice", "choices": [h.value for h in Haematuria]},
    ]
    for item in out:
        name = item["field"]
        if name in UNITS:
            item["unit"] = UNITS[name]
        if name in RANGES:
            item["min"], item["max"] = RANGES[name].low, RANGES[name].high
    return out
