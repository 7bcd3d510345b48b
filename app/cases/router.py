from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app.cases import service
from app.cases.schemas import AiStateName, CaseDetail, CaseHistory, CaseList, CaseOut
from app.db.models import CaseState
from app.deps import CurrentUser, SessionDep

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.post("", response_model=CaseOut, status_code=201, operation_id="createCase")
def create_case(user: CurrentUser, session: SessionDep) -> CaseOut:
    """Open a new case; the number is assigned by the server, never typed in (it is a pseudonym)."""
    return service.create_case(session, user=user)


@router.get("", response_model=CaseList, operation_id="listCases")
def list_cases(
    user: CurrentUser,
    session: SessionDep,
    state: CaseState | None = None,
    q: Annotated[str | None, Query(max_length=64, description="Part of the case number")] = None,
    created_from: Annotated[datetime | None, Query(description="Created at or after (ISO 8601)")] = None,
    created_to: Annotated[datetime | None, Query(description="Created before (ISO 8601)")] = None,
    ai_state: Annotated[AiStateName | None, Query(description="State of the latest analysis job; none = never analysed")] = None,
    has_major: Annotated[bool | None, Query(description="Only cases with (true) / without (false) current major discrepancies")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CaseList:
    """The caller's institution's worklist, newest first: slide count and stains, AI state, current major
    discrepancies and the open second-read alert of each case."""
    return service.list_cases(session, user=user, state=state.value if state else None, q=q,
                              created_from=created_from, created_to=created_to, limit=limit, offset=offset,
                              ai_state=ai_state.value if ai_state else None, has_major=has_major)


@router.get("/{case_id}", response_model=CaseDetail, operation_id="getCase")
def get_case(case_id: int, user: CurrentUser, session: SessionDep) -> CaseDetail:
    """One case with its slides; audited as a view."""
    return service.view_case(session, user=user, case_id=case_id)


@router.get("/{case_id}/history", response_model=CaseHistory, operation_id="getCaseHistory")
def case_history(case_id: int, user: CurrentUser, session: SessionDep,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> CaseHistory:
    """Audit trail of the case and its slides, jobs, reports, comparisons and alerts, newest first.

    While the blinded first read hides the AI, analysis results (glomerulus counts, model output) are
    left out of the events' details."""
    return service.case_history(session, user=user, case_id=case_id, limit=limit)
