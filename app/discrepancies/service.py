"""Persistence around the pure comparison rules: run on signing and when AI results arrive later.

Hooks for other packages:
* ``on_ai_results(session, case_id=...)`` — the worker calls it in the job's transaction once a
  job has succeeded and the case is ``ai_ready``: recompute the assessment, re-compare a signed report.
* ``on_settings_changed(session, institution_id=..., actor_id=...)`` — after thresholds change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.assessment import Assessment, AssessmentConfig, Scheme, adequacy_category
from app.assessment.service import case_ids_of, current, recompute, results_by_scheme, stored_config
from app.audit.service import record
from app.db.models import Case, CaseState, Comparison, Discrepancy, Report
from app.discrepancies import repository as repo
from app.discrepancies.rules import CATEGORICAL, COUNT_FIELDS, ReportValues, Severity, compare
from app.reports import repository as reports_repo
from app.reports.access import set_case_state

ALERTING = (Severity.major,)
DISCREPANT = (Severity.major, Severity.minor)  # info-only differences leave a case concordant


@dataclass
class CompareResult:
    comparison: Comparison
    discrepancies: list[Discrepancy]
    alert_ids: list[int] = field(default_factory=list)


def report_values(values: dict[str, Any]) -> ReportValues:
    """The comparable subset of a stored report (diagnosis axes and free text are not compared)."""
    return ReportValues.model_validate({k: values.get(k) for k in ReportValues.model_fields})


def _axis_value(v: Any) -> Any:
    if isinstance(v, bool):
        return "IV" if v else "not IV"
    return v


def score_value(field_name: str, source: ReportValues | dict[Scheme, Assessment], config: AssessmentConfig) -> Any:
    """One score on the axis the comparison uses (LN: III vs IV; DN: IV or not), from either side."""
    if field_name == "adequacy":
        if isinstance(source, ReportValues):
            return None if source.n_glomeruli is None else adequacy_category(source.n_glomeruli, config)
        a = source.get(Scheme.adequacy)
        return None if a is None or isinstance(a.value, dict) else a.value
    spec = next(s for s in CATEGORICAL if s.field == field_name)
    if isinstance(source, ReportValues):
        raw = getattr(source, field_name)
    else:
        a = source.get(spec.scheme)
        raw = None if a is None or a.value is None else spec.extract(a.value)
    if raw is None:
        return None
    return _axis_value(spec.axis(raw))


SCORES: tuple[str, ...] = ("adequacy", *(s.field for s in CATEGORICAL))


def score_pairs(rv: ReportValues, ai: dict[Scheme, Assessment], config: AssessmentConfig) -> dict[str, Any]:
    """Every score both sides gave: the raw material of κ and the confusion matrices."""
    out: dict[str, Any] = {}
    for name in SCORES:
        a, p = score_value(name, ai, config), score_value(name, rv, config)
        if a is not None and p is not None:
            out[name] = {"ai": a, "pathologist": p}
    return out


def _finding_of(field_name: str) -> str | None:
    if field_name in COUNT_FIELDS:
        f = COUNT_FIELDS[field_name]
        return None if f is None else f.value
    spec = next((s for s in CATEGORICAL if s.field == field_name), None)
    if spec is not None and len(spec.findings) == 1:
        return spec.findings[0].value
    return None


def compare_case(
    session: Session, *, case_id: int, trigger: str, actor_id: int | None = None
) -> CompareResult | None:
    """Compare the latest signed report with freshly recomputed AI results; None if either is missing."""
    from app.alerts.service import open_for_comparison

    report = reports_repo.latest_signed(session, case_id=case_id)
    if report is None:
        return None
    assessment = recompute(session, case_id=case_id, trigger=trigger)
    if assessment is None:
        return None
    case = session.get(Case, case_id)
    assert case is not None
    ai = results_by_scheme(assessment)
    cfg = stored_config(assessment)
    rv = report_values(report.values)
    reliability = {k: bool(v.get("reliable")) for k, v in assessment.reliability.items()}
    found = compare(rv, ai, assessment.evidence, reliability, config=cfg)
    repo.supersede(session, case_id=case_id)
    outcome = "discrepant" if any(d.severity in DISCREPANT for d in found) else "concordant"
    comp = Comparison(case_id=case_id, institution_id=case.institution_id, report_id=report.id,
                      assessment_id=assessment.id, pathologist_id=report.author_id, trigger=trigger,
                      outcome=outcome, pairs=score_pairs(rv, ai, cfg), is_current=True)
    session.add(comp)
    session.flush()
    rows = [
        Discrepancy(comparison_id=comp.id, case_id=case_id, institution_id=case.institution_id,
                    report_id=report.id, pathologist_id=report.author_id, field=d.field,
                    finding=_finding_of(d.field), severity=d.severity.value, ai_value=d.ai_value,
                    pathologist_value=d.pathologist_value, evidence_glomerulus_ids=list(d.evidence_glomerulus_ids),
                    reliable=not d.reliability_gated, reason=d.reason, reason_data=d.reason_data or None,
                    is_current=True)
        for d in found
    ]
    session.add_all(rows)
    session.flush()
    record(session, "comparison.completed", institution_id=case.institution_id, actor_user_id=actor_id,
           object_type="case", object_id=case_id,
           details={"comparison_id": comp.id, "report_id": report.id, "assessment_id": assessment.id,
                    "trigger": trigger, "outcome": outcome,
                    "severities": {s.value: sum(1 for d in found if d.severity is s) for s in Severity}})
    if case.state != CaseState.second_read.value:
        set_case_state(session, case=case, to=CaseState.compared, actor_id=actor_id, reason=trigger)
        set_case_state(session, case=case, to=CaseState(outcome), actor_id=actor_id, reason="comparison")
    majors = [r for r in rows if r.severity in {s.value for s in ALERTING}]
    alert_ids: list[int] = []
    if majors:
        alert = open_for_comparison(session, case=case, comparison=comp, report=report, majors=majors,
                                    actor_id=actor_id)
        if alert is not None:
            alert_ids.append(alert.id)
    return CompareResult(comp, rows, alert_ids)


def on_ai_results(session: Session, *, case_id: int) -> CompareResult | None:
    """Worker hook, in the job's transaction after the case reached ``ai_ready``.

    Always stores a fresh assessment; when a report was signed before the AI finished, it also
    runs the comparison (and may open an alert, whose e-mail is sent after that transaction commits).
    """
    if reports_repo.latest_signed(session, case_id=case_id) is None:
        recompute(session, case_id=case_id, trigger="ai_results")
        return None
    return compare_case(session, case_id=case_id, trigger="ai_results")


def on_settings_changed(session: Session, *, institution_id: int, actor_id: int | None) -> list[int]:
    """Recompute every assessment of the institution and re-compare signed reports; returns case ids."""
    done: list[int] = []
    for cid in case_ids_of(session, institution_id=institution_id):
        if reports_repo.latest_signed(session, case_id=cid) is not None:
            result = compare_case(session, case_id=cid, trigger="settings_changed", actor_id=actor_id)
            found = result is not None
        else:
            found = recompute(session, case_id=cid, trigger="settings_changed") is not None
        if found:
            done.append(cid)
    return done


def current_for_case(session: Session, *, case_id: int) -> tuple[Comparison | None, list[Discrepancy]]:
    comp = repo.current_comparison(session, case_id=case_id)
    if comp is None:
        return None, []
    return comp, repo.for_comparison(session, comparison_id=comp.id)


def report_of(session: Session, comparison: Comparison) -> Report | None:
    return session.get(Report, comparison.report_id)


__all__ = ["CompareResult", "compare_case", "current", "on_ai_results", "on_settings_changed", "score_pairs"]
