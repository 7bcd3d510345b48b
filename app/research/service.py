"""De-identified research export: cases, clinical data, assessments and glomerulus GeoJSON as one zip.

De-identification here is about the *tables*: slide files were already scrubbed at ingest. Case and
slide ids are replaced by keyed hashes (stable across exports, useless without the server secret);
dates become a biopsy month and day offsets; age is capped at 90; free text other than the clinical
diagnosis (history, notes, display names) never leaves. Every export is audited with its filters,
counts and the SHA-256 of the zip.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.service import record
from app.clinical.glomerular import FINDINGS, latest_jobs, summary_of
from app.config import get_settings
from app.db.base import utcnow
from app.db.models import (
    AnalysisJob,
    Case,
    CaseAssessment,
    ClinicalFollowup,
    ClinicalRecord,
    Glomerulus,
    Institution,
    Role,
    Slide,
    User,
)
from app.errors import BadRequest, Forbidden, NotFound
from app.research.geojson import feature_collection

AGE_CAP = 90

CASE_COLUMNS = [
    "research_case_id", "site", "biopsy_month", "case_state", "age_years", "sex", "clinical_diagnosis",
    "systolic_bp_mmhg", "diastolic_bp_mmhg", "creatinine_mg_dl", "egfr_ml_min_1_73m2", "urinary_protein",
    "urinary_protein_unit", "haematuria", "n_slides",
]
FOLLOWUP_COLUMNS = [
    "research_case_id", "days_after_biopsy", "systolic_bp_mmhg", "diastolic_bp_mmhg", "creatinine_mg_dl",
    "egfr_ml_min_1_73m2", "urinary_protein", "urinary_protein_unit", "haematuria",
]
SLIDE_COLUMNS = [
    "research_slide_id", "research_case_id", "stain", "format", "width_px", "height_px", "mpp_x", "mpp_y",
    "analysed", "n_glomeruli", "geojson",
]
ASSESSMENT_COLUMNS = [
    "research_case_id", "research_slide_id", "stain", "n_glomeruli", "n_assessable",
    *[f"n_{f}" for f in FINDINGS], "n_any_crescent", "pct_global_sclerosis", "pct_crescent",
    "oxford_m", "oxford_e", "oxford_s", "model_versions", "oxford_c", "adequacy", "rules_version",
]


def _round1(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def current_assessments(session: Session, case_ids: Sequence[int]) -> dict[int, CaseAssessment]:
    """case id → its newest stored assessment, in one query."""
    if not case_ids:
        return {}
    newest = (select(CaseAssessment.case_id, func.max(CaseAssessment.id).label("id"))
              .where(CaseAssessment.case_id.in_(case_ids)).group_by(CaseAssessment.case_id).subquery())
    rows = session.execute(select(CaseAssessment).join(newest, newest.c.id == CaseAssessment.id)).scalars()
    return {r.case_id: r for r in rows}


def research_id(prefix: str, kind: str, pk: int) -> str:
    """Keyed hash of a database id: stable between exports, not reversible without the server secret."""
    key = get_settings().secret_key.encode()
    return prefix + hmac.new(key, f"{kind}:{pk}".encode(), hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class ExportFilter:
    date_from: date | None
    date_to: date | None
    institution_ids: tuple[int, ...]
    institution_codes: tuple[str, ...]


def resolve_filter(session: Session, *, user: User, date_from: date | None, date_to: date | None,
                   institution: str | None) -> ExportFilter:
    """Who may export what: network admins any institution (default all), site admins only their own."""
    if user.role not in (Role.admin, Role.network_admin):
        raise Forbidden("Research export needs a site or network administrator.")
    if date_from and date_to and date_from > date_to:
        raise BadRequest(f"from ({date_from}) is after to ({date_to}).", code="bad_period")
    own = session.get(Institution, user.institution_id)
    assert own is not None
    if user.role == Role.admin:
        if institution not in (None, "", own.code, str(own.id)):
            raise Forbidden("A site administrator can export only their own institution's cases.",
                            code="export_other_institution")
        return ExportFilter(date_from, date_to, (own.id,), (own.code,))
    if institution:
        inst = session.execute(select(Institution).where(Institution.code == institution)).scalar_one_or_none()
        if inst is None and institution.isdigit():
            inst = session.get(Institution, int(institution))
        if inst is None:
            raise NotFound(f"No institution '{institution}'.", code="institution_not_found")
        return ExportFilter(date_from, date_to, (inst.id,), (inst.code,))
    insts = list(session.execute(select(Institution).order_by(Institution.id)).scalars())
    return ExportFilter(date_from, date_to, tuple(i.id for i in insts), tuple(i.code for i in insts))


def _csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue().encode()


def export(session: Session, *, user: User, date_from: date | None, date_to: date | None,
           institution: str | None) -> tuple[bytes, str]:
    """Build the zip (bytes, file name) and audit it; the period filters on biopsy date, else case creation."""
    flt = resolve_filter(session, user=user, date_from=date_from, date_to=date_to, institution=institution)
    codes = {i: c for i, c in session.execute(select(Institution.id, Institution.code))}
    cases = list(session.execute(
        select(Case).where(Case.institution_id.in_(flt.institution_ids)).order_by(Case.id)).scalars())
    recs = {r.case_id: r for r in session.execute(
        select(ClinicalRecord).where(ClinicalRecord.institution_id.in_(flt.institution_ids))).scalars()}

    def biopsy_day(c: Case) -> date:
        rec = recs.get(c.id)
        return rec.biopsy_date if rec and rec.biopsy_date else c.created_at.date()

    cases = [c for c in cases if (flt.date_from is None or biopsy_day(c) >= flt.date_from)
             and (flt.date_to is None or biopsy_day(c) <= flt.date_to)]
    case_ids = [c.id for c in cases]
    slides = list(session.execute(select(Slide).where(Slide.case_id.in_(case_ids)).order_by(Slide.id)).scalars()) \
        if case_ids else []
    fups = list(session.execute(select(ClinicalFollowup).where(ClinicalFollowup.case_id.in_(case_ids))
                                .order_by(ClinicalFollowup.case_id, ClinicalFollowup.measured_on)).scalars()) \
        if case_ids else []
    jobs = latest_jobs(session, [s.id for s in slides])
    rid = {c.id: research_id("C", "case", c.id) for c in cases}
    sid = {s.id: research_id("S", "slide", s.id) for s in slides}

    files: dict[str, bytes] = {}
    case_rows, slide_rows, assess_rows = [], [], []
    n_glom_total = 0
    for s in slides:
        job = jobs.get(s.id)
        glom: list[Glomerulus] = list(session.execute(
            select(Glomerulus).where(Glomerulus.job_id == job.id)).scalars()) if job else []
        n_glom_total += len(glom)
        geo_name = f"geojson/{sid[s.id]}.geojson" if job else ""
        if job:
            files[geo_name] = json.dumps(feature_collection(sid[s.id], glom), separators=(",", ":")).encode()
        slide_rows.append({
            "research_slide_id": sid[s.id], "research_case_id": rid[s.case_id], "stain": s.stain,
            "format": s.format, "width_px": s.width, "height_px": s.height, "mpp_x": s.mpp_x, "mpp_y": s.mpp_y,
            "analysed": int(job is not None), "n_glomeruli": len(glom) if job else None, "geojson": geo_name,
        })
    # One row per case from its current stored assessment (the same numbers the AI tab and the
    # comparison use); a case without one has no row.
    assessments = current_assessments(session, case_ids)
    slide_of_job: dict[int, int] = {}
    if assessments:
        for job_id, slide_id in session.execute(
            select(AnalysisJob.id, AnalysisJob.slide_id)
            .where(AnalysisJob.id.in_([j for a in assessments.values() for j in a.job_ids or []]))
        ):
            slide_of_job[job_id] = slide_id
    for cid in case_ids:
        row = assessments.get(cid)
        if row is None:
            continue
        summ = summary_of(row)
        slide_ids = sorted({slide_of_job[j] for j in summ.job_ids if j in slide_of_job and slide_of_job[j] in sid})
        assess_rows.append({
            "research_case_id": rid[cid], "research_slide_id": ";".join(sid[i] for i in slide_ids),
            "stain": summ.stain, "n_glomeruli": summ.n_glomeruli, "n_assessable": summ.n_assessable,
            **{f"n_{k}": summ.counts.get(k) for k in FINDINGS}, "n_any_crescent": summ.n_any_crescent,
            "pct_global_sclerosis": _round1(summ.pct_global_sclerosis), "pct_crescent": _round1(summ.pct_crescent),
            "oxford_m": summ.oxford["M"], "oxford_e": summ.oxford["E"], "oxford_s": summ.oxford["S"],
            "oxford_c": summ.oxford["C"], "model_versions": json.dumps(summ.model_versions),
            "adequacy": summ.adequacy, "rules_version": summ.rules_version,
        })

    n_slides = {cid: 0 for cid in case_ids}
    for s in slides:
        n_slides[s.case_id] += 1
    for c in cases:
        rec = recs.get(c.id)
        age = rec.age_years if rec else None
        case_rows.append({
            "research_case_id": rid[c.id], "site": codes.get(c.institution_id), "biopsy_month":
                biopsy_day(c).strftime("%Y-%m"), "case_state": c.state,
            "age_years": (f"{AGE_CAP}+" if age is not None and age >= AGE_CAP else age),
            "sex": rec.sex if rec else None, "clinical_diagnosis": rec.clinical_diagnosis if rec else None,
            "systolic_bp_mmhg": rec.systolic_bp_mmhg if rec else None,
            "diastolic_bp_mmhg": rec.diastolic_bp_mmhg if rec else None,
            "creatinine_mg_dl": rec.creatinine_mg_dl if rec else None, "egfr_ml_min_1_73m2": rec.egfr if rec else None,
            "urinary_protein": rec.urinary_protein if rec else None,
            "urinary_protein_unit": rec.urinary_protein_unit if rec else None,
            "haematuria": rec.haematuria if rec else None, "n_slides": n_slides[c.id],
        })
    case_by_id = {c.id: c for c in cases}
    fup_rows = [{
        "research_case_id": rid[f.case_id], "days_after_biopsy": (f.measured_on - biopsy_day(case_by_id[f.case_id])).days,
        "systolic_bp_mmhg": f.systolic_bp_mmhg, "diastolic_bp_mmhg": f.diastolic_bp_mmhg,
        "creatinine_mg_dl": f.creatinine_mg_dl, "egfr_ml_min_1_73m2": f.egfr, "urinary_protein": f.urinary_protein,
        "urinary_protein_unit": f.urinary_protein_unit, "haematuria": f.haematuria,
    } for f in fups]

    files["cases.csv"] = _csv(CASE_COLUMNS, case_rows)
    files["followups.csv"] = _csv(FOLLOWUP_COLUMNS, fup_rows)
    files["slides.csv"] = _csv(SLIDE_COLUMNS, slide_rows)
    files["assessments.csv"] = _csv(ASSESSMENT_COLUMNS, assess_rows)
    now = utcnow()
    counts = {"cases": len(cases), "slides": len(slides), "followups": len(fups), "glomeruli": n_glom_total}
    manifest: dict[str, Any] = {
        "generated_at": now.replace(microsecond=0).isoformat(),
        "filters": {"from": flt.date_from, "to": flt.date_to, "institutions": list(flt.institution_codes)},
        "counts": counts,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "assessment_rule": "assessments.csv is each case's current stored assessment (rules_version column): "
                           "findings called with the model card's thresholds, indeterminate and not-assessable "
                           "glomeruli excluded from numerators, each score only above its minimum of assessable "
                           "glomeruli (empty otherwise)",
        "deidentification": __doc__.split("\n\n")[1].replace("\n", " ") if __doc__ else "",
        "geojson": "QuPath GeoJSON, level-0 pixel coordinates of the de-identified slide",
    }
    files["manifest.json"] = json.dumps(manifest, indent=2, default=str, ensure_ascii=False).encode()
    buf = io.BytesIO()
    # A fixed timestamp inside the zip makes the archive reproducible for the same data.
    stamp = (now.year, now.month, now.day, 0, 0, 0)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ["manifest.json", "cases.csv", "followups.csv", "slides.csv", "assessments.csv",
                     *sorted(n for n in files if n.startswith("geojson/"))]:
            zf.writestr(zipfile.ZipInfo(name, date_time=stamp), files[name], compress_type=zipfile.ZIP_DEFLATED)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    record(session, "research.export", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="research_export", object_id=digest[:16], details={
               "from": flt.date_from, "to": flt.date_to, "institutions": list(flt.institution_codes),
               "role": user.role, **counts, "sha256": digest})
    scope = "all" if len(flt.institution_codes) > 1 else flt.institution_codes[0]
    return data, f"glomcheck-research-{scope}-{now.strftime('%Y%m%dT%H%M%SZ')}.zip"
