"""The AI tab's case-level assessment, behind the blinded-first-read gate."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy.orm import Session

from app.assessment import service
from app.db.models import CaseAssessment, User
from app.deps import CurrentUser, RequireAdmin, SessionDep
from app.errors import NotFound
from app.reports.access import get_case_for, record_view
from app.reports.service import ensure_ai_visible

router = APIRouter(tags=["assessment"])


class AssessmentOut(BaseModel):
    """``results``: one DOMAIN.md §3 object per scheme; ``evidence``: finding → glomerulus ids;
    ``reliability``: finding → {kappa, auc, reliable}."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    rules_version: str
    model_versions: list[str]
    job_ids: list[int]
    stain: str | None
    trigger: str
    config: dict[str, Any]
    results: list[dict[str, Any]]
    evidence: dict[str, list[int]]
    reliability: dict[str, Any]
    created_at: datetime


def _current(session: Session, *, case_id: int, user: User) -> CaseAssessment:
    case = get_case_for(session, case_id=case_id, user=user)
    ensure_ai_visible(session, case_id=case_id, user=user)
    row = service.current(session, case_id=case_id)
    if row is None:
        raise NotFound(f"Case {case_id} has no AI results yet.", code="assessment_not_ready")
    record_view(session, case=case, user=user, part="assessment")
    return row


@router.get("/api/cases/{case_id}/assessment", response_model=AssessmentOut, operation_id="getCaseAssessment")
def get_assessment(case_id: int, user: CurrentUser, session: SessionDep) -> AssessmentOut:
    """403 ``blinded_first_read`` until the case's first report is signed (institution setting)."""
    return AssessmentOut.model_validate(_current(session, case_id=case_id, user=user))


@router.post("/api/cases/{case_id}/assessment/recompute", response_model=AssessmentOut,
             operation_id="recomputeCaseAssessment")
def recompute(case_id: int, user: RequireAdmin, session: SessionDep) -> AssessmentOut:
    """Admin: recompute now (e.g. after a rules upgrade); a signed report is compared again."""
    from app.audit.service import record
    from app.discrepancies.service import compare_case

    case = get_case_for(session, case_id=case_id, user=user, write=True)
    # With a signed report the comparison recomputes (and may alert); otherwise only the assessment.
    if compare_case(session, case_id=case_id, trigger="manual", actor_id=user.id) is not None:
        row = service.current(session, case_id=case_id)
    else:
        row = service.recompute(session, case_id=case_id, trigger="manual")
    if row is None:
        raise NotFound(f"Case {case_id} has no AI results yet.", code="assessment_not_ready")
    record(session, "assessment.recomputed", institution_id=case.institution_id, actor_user_id=user.id,
           object_type="case", object_id=case_id, details={"assessment_id": row.id})
    return AssessmentOut.model_validate(row)
