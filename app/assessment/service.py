"""DB-facing wiring of the pure assessment rules: load AI results, run them, store a versioned row.

Assessments are recomputed (never edited) whenever AI results arrive or an institution's settings
change, so every comparison can point at exactly the numbers and rule version it used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.assessment import (
    RULES_VERSION,
    Assessment,
    AssessmentConfig,
    Finding,
    GlomerulusRecord,
    Scheme,
    Thresholds,
    assess_case,
    case_view,
    evidence_by_finding,
)
from app.audit.service import record
from app.db.models import AnalysisJob, Case, CaseAssessment, Glomerulus, Institution, JobState, Report, Slide
from app.errors import Unprocessable

# Used only when a job carries no model card: every finding is then "unreliable", so it is shown
# but can never raise an alert on its own (DOMAIN.md §2).
FALLBACK_THRESHOLDS = Thresholds(t_lo=0.3, t_hi=0.7)

ASSESSMENT_SETTINGS_KEY = "assessment"
BLINDED_SETTINGS_KEY = "blinded_first_read"


def institution_config(inst: Institution) -> AssessmentConfig:
    """Defaults overlaid with ``Institution.settings["assessment"]``."""
    return AssessmentConfig.from_overrides((inst.settings or {}).get(ASSESSMENT_SETTINGS_KEY) or {})


def validate_overrides(overrides: Mapping[str, Any]) -> AssessmentConfig:
    """Reject unknown or inconsistent thresholds with a 422 before anything is stored."""
    try:
        return AssessmentConfig.from_overrides(overrides)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise Unprocessable(f"Invalid assessment settings: {msgs}", code="invalid_settings") from exc


def blinded_read_enabled(inst: Institution) -> bool:
    """DOMAIN.md §1: on unless the institution turned it off."""
    return bool((inst.settings or {}).get(BLINDED_SETTINGS_KEY, True))


@dataclass
class ModelCardInfo:
    """Per-finding thresholds and reliability metrics of the models behind one case's results."""

    thresholds: dict[str, Thresholds] = field(default_factory=dict)
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)
    card_missing: bool = False
    synthetic_only: set[str] = field(default_factory=set)


from app.config import MODELS_DIR


def _shipped_card(name: str, version: str) -> dict[str, Any] | None:
    """``models/<name>/card.json`` if it is the version the job ran (cards carry thresholds and metrics)."""
    path = MODELS_DIR / name / "card.json"
    if not name.isidentifier() or not path.is_file():
        return None
    try:
        card: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return card if str(card.get("version")) == version and "thresholds" in card else None


def _card_entries(job: AnalysisJob) -> list[tuple[str, dict[str, Any], bool]]:
    """(finding, {t_lo, t_hi, auc, kappa}, synthetic_only) from the job, else from the shipped card."""
    inline = (job.result or {}).get("model_card") or {}
    if inline.get("findings"):
        return [(k, v, bool(v.get("synthetic_only"))) for k, v in inline["findings"].items()]
    out: list[tuple[str, dict[str, Any], bool]] = []
    for name, version in (job.model_versions or {}).items():
        card = _shipped_card(str(name), str(version))
        if card is None:
            continue
        synthetic = set(card.get("synthetic_only") or [])
        for key, th in card["thresholds"].items():
            m = (card.get("metrics") or {}).get(key) or {}
            kappa = m.get("kappa", (m.get("kappa_literature") or {}).get("kappa"))
            out.append((key, {**th, "auc": m.get("auc"), "kappa": kappa}, key in synthetic))
    return out


def card_from_jobs(jobs: Sequence[AnalysisJob], glomeruli: Sequence[Glomerulus]) -> ModelCardInfo:
    """Per-finding thresholds and metrics: ``job.result["model_card"]["findings"][key] = {t_lo, t_hi, auc,
    kappa}`` if the worker wrote one, else the shipped ``models/<name>/card.json`` of the version run.

    Without any card, findings present in the glomeruli get fallback thresholds and unknown metrics,
    so they are shown but never alert. Synthetic-only findings are likewise never reliable.
    """
    info = ModelCardInfo()
    for job in jobs:
        for key, spec, synthetic in _card_entries(job):
            if key not in Finding.__members__ or key in info.thresholds:
                continue
            info.thresholds[key] = Thresholds(t_lo=float(spec["t_lo"]), t_hi=float(spec["t_hi"]))
            info.metrics[key] = {"auc": spec.get("auc"), "kappa": spec.get("kappa")}
            if synthetic:
                info.synthetic_only.add(key)
    if not info.thresholds:
        info.card_missing = True
        keys = {k for g in glomeruli for k in (g.findings or {}) if k in Finding.__members__}
        for key in sorted(keys):
            info.thresholds[key] = FALLBACK_THRESHOLDS
            info.metrics[key] = {"auc": None, "kappa": None}
    return info


def latest_jobs(session: Session, *, case_id: int) -> list[tuple[Slide, AnalysisJob]]:
    """The newest succeeded analysis of every slide of the case."""
    rows = session.execute(
        select(Slide, AnalysisJob)
        .join(AnalysisJob, AnalysisJob.slide_id == Slide.id)
        .where(Slide.case_id == case_id, AnalysisJob.state == JobState.succeeded.value)
        .order_by(Slide.id, AnalysisJob.id.desc())
    ).all()
    out: dict[int, tuple[Slide, AnalysisJob]] = {}
    for slide, job in rows:
        out.setdefault(slide.id, (slide, job))
    return list(out.values())


def _pick_stain(pairs: Sequence[tuple[Slide, AnalysisJob]], preferred: str) -> str | None:
    stains = [s.stain for s, _ in pairs]
    if preferred in stains:
        return preferred
    return stains[0] if stains else None


def signed_report_T(session: Session, *, case_id: int) -> int | None:
    """Oxford T is tubulointerstitial: it can only come from the latest signed report."""
    rep = session.execute(
        select(Report).where(Report.case_id == case_id, Report.status == "signed").order_by(Report.version.desc())
    ).scalars().first()
    t = (rep.values or {}).get("T") if rep else None
    return t if isinstance(t, int) else None


def recompute(session: Session, *, case_id: int, trigger: str) -> CaseAssessment | None:
    """Run every §3 scheme on the case's current AI results and store a new assessment row.

    Returns None when the case has no succeeded analysis yet.
    """
    case = session.get(Case, case_id)
    if case is None:
        return None
    inst = session.get(Institution, case.institution_id)
    assert inst is not None
    config = institution_config(inst)
    pairs = latest_jobs(session, case_id=case_id)
    stain = _pick_stain(pairs, config.default_stain)
    if stain is None:
        return None
    jobs = [job for slide, job in pairs if slide.stain == stain]
    glomeruli = list(
        session.execute(
            select(Glomerulus).where(Glomerulus.job_id.in_([j.id for j in jobs])).order_by(Glomerulus.id)
        ).scalars()
    )
    card = card_from_jobs(jobs, glomeruli)
    records = [GlomerulusRecord(id=g.id, probabilities=dict(g.findings or {}), flags=list(g.flags or []))
               for g in glomeruli]
    model_versions = sorted({f"{k}:{v}" for j in jobs for k, v in (j.model_versions or {}).items()})
    results = assess_case(records, config, card.thresholds, signed_report_T(session, case_id=case_id),
                          model_versions=model_versions)
    evidence = evidence_by_finding(case_view(records, card.thresholds, config))
    reliability = {
        key: {**m, "synthetic_only": key in card.synthetic_only,
              "reliable": key not in card.synthetic_only and config.is_reliable(m.get("kappa"), m.get("auc"))}
        for key, m in card.metrics.items()
    }
    row = CaseAssessment(
        case_id=case_id,
        institution_id=case.institution_id,
        rules_version=RULES_VERSION,
        model_versions=model_versions,
        job_ids=[j.id for j in jobs],
        stain=stain,
        trigger=trigger,
        config={**config.model_dump(mode="json"), "model_card_missing": card.card_missing},
        results=[a.model_dump(mode="json") for a in results.values()],
        evidence=evidence,
        reliability=reliability,
    )
    session.add(row)
    session.flush()
    record(session, "assessment.computed", institution_id=case.institution_id, object_type="case", object_id=case_id,
           details={"assessment_id": row.id, "trigger": trigger, "rules_version": RULES_VERSION,
                    "model_versions": model_versions, "job_ids": row.job_ids, "model_card_missing": card.card_missing})
    return row


def current(session: Session, *, case_id: int) -> CaseAssessment | None:
    return session.execute(
        select(CaseAssessment).where(CaseAssessment.case_id == case_id).order_by(CaseAssessment.id.desc()).limit(1)
    ).scalar_one_or_none()


def results_by_scheme(row: CaseAssessment) -> dict[Scheme, Assessment]:
    return {Scheme(r["scheme"]): Assessment.model_validate(r) for r in row.results}


def stored_config(row: CaseAssessment) -> AssessmentConfig:
    """The exact thresholds the stored assessment used (for comparing against it)."""
    cfg = {k: v for k, v in row.config.items() if k in AssessmentConfig.model_fields}
    return AssessmentConfig.model_validate(cfg)


def case_ids_of(session: Session, *, institution_id: int) -> list[int]:
    return list(session.execute(
        select(Case.id).where(Case.institution_id == institution_id).order_by(Case.id)
    ).scalars())
