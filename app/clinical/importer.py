"""CSV import of clinical data for many cases at once: validate every row first, then write all or nothing.

Rows are keyed by the pseudonymous case number of the importer's institution. A row is a follow-up
when ``record`` says so or when it has ``measured_on``; otherwise it is the baseline. Columns absent
from the file leave stored values unchanged; a present but empty cell clears the value.
Any bad row rejects the whole file with a per-row report (the request's transaction rolls back, so
nothing is half-imported even if the database fails midway).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import record
from app.clinical.fields import FieldError, Haematuria, ProteinUnit, Sex, check_values
from app.clinical.schemas import ImportOut, RowError
from app.clinical.service import (
    BASELINE_FIELDS,
    apply_baseline,
    baseline_of,
    followup_egfr,
    merged_baseline,
)
from app.db.models import Case, ClinicalFollowup, User
from app.errors import BadRequest, Unprocessable

MAX_ROWS = 20_000
MAX_BYTES = 5 * 1024 * 1024


def _int(s: str) -> int:
    f = float(s)
    if not f.is_integer():
        raise ValueError("must be a whole number")
    return int(f)


def _choice(enum: type[Sex | ProteinUnit | Haematuria]) -> Callable[[str], str]:
    aliases = {"+-": "±", "negative": "-", "neg": "-", "g/gcr": "g/gCr", "g/d": "g/day", "f": "female", "m": "male"}

    def parse(s: str) -> str:
        v = aliases.get(s.lower(), s)
        allowed = [e.value for e in enum]
        if v not in allowed and v.lower() in allowed:
            v = v.lower()
        if v not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return v

    return parse


def _text(limit: int) -> Callable[[str], str]:
    def parse(s: str) -> str:
        if len(s) > limit:
            raise ValueError(f"longer than {limit} characters")
        return s

    return parse


PARSERS: dict[str, Callable[[str], Any]] = {
    "biopsy_date": date.fromisoformat,
    "measured_on": date.fromisoformat,
    "age_years": _int,
    "sex": _choice(Sex),
    "clinical_diagnosis": _text(200),
    "history": _text(4000),
    "systolic_bp_mmhg": _int,
    "diastolic_bp_mmhg": _int,
    "creatinine_mg_dl": float,
    "urinary_protein": float,
    "urinary_protein_unit": _choice(ProteinUnit),
    "haematuria": _choice(Haematuria),
    "note": _text(2000),
}
FOLLOWUP_ONLY = {"measured_on", "note"}
BASELINE_ONLY = {"biopsy_date", "age_years", "sex", "clinical_diagnosis", "history"}
KNOWN_COLUMNS = {"case_number", "record", *PARSERS}


@dataclass
class _Row:
    line: int
    case_number: str
    kind: str  # baseline | followup
    values: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    case: Case | None = None


def parse_csv(text: str) -> tuple[list[str], list[_Row]]:
    """Split the file into typed rows; a file-level problem (header, size) is a 400, not a row error."""
    if len(text.encode()) > MAX_BYTES:
        raise BadRequest(f"The CSV is larger than {MAX_BYTES // 1024 // 1024} MB; split it.", code="csv_too_large")
    text = text.lstrip("\ufeff")  # Excel writes a BOM
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise BadRequest("The CSV is empty: expected a header row with case_number and clinical columns.",
                         code="csv_empty")
    columns = [c.strip().lower() for c in reader.fieldnames]
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if "case_number" not in columns or unknown:
        raise BadRequest(
            ("Unknown columns: " + ", ".join(unknown) + ". " if unknown else "Missing column case_number. ")
            + "Known columns: " + ", ".join(sorted(KNOWN_COLUMNS)) + ".",
            code="csv_bad_header", extra={"unknown_columns": unknown},
        )
    reader.fieldnames = columns
    rows: list[_Row] = []
    for raw in reader:
        line = reader.line_num
        if len(rows) >= MAX_ROWS:
            raise BadRequest(f"More than {MAX_ROWS} rows; split the file.", code="csv_too_many_rows")
        if None in raw:
            rows.append(_Row(line, (raw.get("case_number") or "").strip(), "baseline", {},
                             [FieldError("row", "more cells than header columns")]))
            continue
        cells = {k: (v or "").strip() for k, v in raw.items()}
        if not any(cells.values()):
            continue  # blank line
        rows.append(_parse_row(line, cells))
    if not rows:
        raise BadRequest("The CSV has a header but no data rows.", code="csv_empty")
    return columns, rows


def _parse_row(line: int, cells: dict[str, str]) -> _Row:
    kind = cells.get("record", "").lower() or ("followup" if cells.get("measured_on") else "baseline")
    row = _Row(line, cells.get("case_number", ""), kind, {})
    if not row.case_number:
        row.errors.append(FieldError("case_number", "case_number: required"))
    if kind not in ("baseline", "followup"):
        row.errors.append(FieldError("record", f"record: '{kind}' must be baseline or followup"))
        return row
    for name, raw in cells.items():
        if name in ("case_number", "record"):
            continue
        if kind == "baseline" and name in FOLLOWUP_ONLY or kind == "followup" and name in BASELINE_ONLY:
            if raw:
                row.errors.append(FieldError(name, f"{name}: not allowed on a {kind} row"))
            continue
        try:
            row.values[name] = PARSERS[name](raw) if raw else None
        except ValueError as exc:
            reason = str(exc) if "must" in str(exc) or "longer" in str(exc) else "not a valid value"
            row.errors.append(FieldError(name, f"{name}: '{raw}' {reason}"))
    if kind == "followup" and row.values.get("measured_on") is None and "measured_on" not in {
            e.field for e in row.errors}:
        row.errors.append(FieldError("measured_on", "measured_on: required on a follow-up row (YYYY-MM-DD)"))
    return row


def import_csv(session: Session, *, user: User, text: str) -> ImportOut:
    """Validate the whole file against the user's institution, then write it; raise 422 on any bad row."""
    _, rows = parse_csv(text)
    numbers = {r.case_number for r in rows if r.case_number}
    cases = {
        c.number: c
        for c in session.execute(
            select(Case).where(Case.institution_id == user.institution_id, Case.number.in_(numbers))
        ).scalars()
    } if numbers else {}
    seen_baseline: set[str] = set()
    seen_followup: set[tuple[str, date]] = set()
    planned: dict[str, dict[str, Any]] = {}  # case number -> merged baseline after this import

    for row in rows:
        if row.case_number and row.case_number not in cases:
            row.errors.append(FieldError("case_number",
                                         f"case_number: no case '{row.case_number}' at your institution"))
        row.case = cases.get(row.case_number)
        if row.kind == "baseline" and row.case_number:
            if row.case_number in seen_baseline:
                row.errors.append(FieldError("case_number", "case_number: a second baseline row for this case"))
            seen_baseline.add(row.case_number)
    # Every row is range-checked even when it already has errors, so one report lists all problems.
    for row in rows:  # baselines first: follow-up dates and eGFR depend on them
        if row.kind != "baseline":
            continue
        merged = merged_baseline(baseline_of(session, row.case.id) if row.case else None, row.values)
        row.errors += check_values(merged, biopsy_date=merged["biopsy_date"])
        if row.case is not None:
            planned[row.case_number] = merged
    for row in rows:
        if row.kind != "followup":
            continue
        base = planned.get(row.case_number) or merged_baseline(
            baseline_of(session, row.case.id) if row.case else None, {})
        measured = row.values.get("measured_on")
        if measured is not None:
            key = (row.case_number, measured)
            if key in seen_followup:
                row.errors.append(FieldError("measured_on", f"measured_on: a second follow-up on {measured.isoformat()}"))
            seen_followup.add(key)
        row.errors += check_values(row.values, biopsy_date=base["biopsy_date"], measured_on=measured)

    bad = [r for r in rows if r.errors]
    if bad:
        report = [RowError(line=r.line, case_number=r.case_number or None,
                           errors=[e.as_dict() for e in r.errors]).model_dump() for r in bad]
        raise Unprocessable(
            f"{len(bad)} of {len(rows)} rows have errors; nothing was imported. "
            f"First: line {bad[0].line}: {bad[0].errors[0].msg}",
            code="csv_invalid", extra={"rows": report, "n_rows": len(rows), "n_bad_rows": len(bad)},
        )

    n_base = n_fu = 0
    for row in rows:
        if row.kind == "baseline" and row.case is not None:
            apply_baseline(session, case=row.case,
                           values={k: v for k, v in row.values.items() if k in BASELINE_FIELDS}, user=user)
            n_base += 1
    for row in rows:
        if row.kind == "followup" and row.case is not None:
            _upsert_followup(session, row=row, case=row.case, user=user)
            n_fu += 1
    touched = sorted({r.case_number for r in rows})
    record(session, "clinical.imported", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="clinical_import", details={
               "n_rows": len(rows), "baseline_upserted": n_base, "followups_written": n_fu, "case_numbers": touched})
    return ImportOut(n_rows=len(rows), baseline_upserted=n_base, followups_written=n_fu, case_numbers=touched)


def _upsert_followup(session: Session, *, row: _Row, case: Case, user: User) -> None:
    """Re-importing the same file updates the measurement of that date instead of duplicating it."""
    measured: date = row.values["measured_on"]
    f = session.execute(select(ClinicalFollowup).where(
        ClinicalFollowup.case_id == case.id, ClinicalFollowup.measured_on == measured)).scalar_one_or_none()
    if f is None:
        f = ClinicalFollowup(case_id=case.id, institution_id=case.institution_id, measured_on=measured,
                             created_by_id=user.id)
        session.add(f)
    for name, value in row.values.items():
        setattr(f, name, value)
    f.egfr = followup_egfr(baseline_of(session, case.id), measured, f.creatinine_mg_dl)
    session.flush()
