"""The Comparison tab: the current comparison of a case with its discrepancies."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import CurrentUser, SessionDep
from app.discrepancies import service
from app.discrepancies.schemas import ComparisonOut, DiscrepancyOut
from app.errors import NotFound
from app.reports.access import get_case_for, record_view
from app.reports.service import ensure_ai_visible

router = APIRouter(tags=["discrepancies"])


@router.get("/api/cases/{case_id}/comparison", response_model=ComparisonOut, operation_id="getCaseComparison")
def get_comparison(case_id: int, user: CurrentUser, session: SessionDep) -> ComparisonOut:
    """404 ``comparison_not_ready`` until a report is signed and AI results exist."""
    case = get_case_for(session, case_id=case_id, user=user)
    ensure_ai_visible(session, case_id=case_id, user=user)
    comp, rows = service.current_for_case(session, case_id=case_id)
    if comp is None:
        raise NotFound(f"Case {case_id} has not been compared yet.", code="comparison_not_ready")
    record_view(session, case=case, user=user, part="comparison")
    report = service.report_of(session, comp)
    return ComparisonOut(
        id=comp.id, case_id=comp.case_id, report_id=comp.report_id,
        report_version=report.version if report else 0, assessment_id=comp.assessment_id,
        pathologist_id=comp.pathologist_id, trigger=comp.trigger, outcome=comp.outcome, pairs=comp.pairs,
        created_at=comp.created_at, discrepancies=[DiscrepancyOut.model_validate(d) for d in rows],
    )
