"""Structured report endpoints (Report tab)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.db.models import Report
from app.deps import CurrentUser, SessionDep
from app.reports import service
from app.reports.schemas import AmendIn, ReportIn, ReportOut, SignOut
from app.reports.vocabulary import as_json

router = APIRouter(tags=["reports"])


def _out(rep: Report) -> ReportOut:
    out = ReportOut.model_validate(rep)
    out.not_assessed = service.not_assessed(rep.values)
    return out


@router.get("/api/reports/vocabulary", operation_id="reportVocabulary")
def vocabulary(_: CurrentUser) -> dict[str, Any]:
    """J-RBR diagnosis axes with en/ja labels; null in a report means "not assessed"."""
    return as_json()


@router.get("/api/cases/{case_id}/reports", response_model=list[ReportOut], operation_id="listReportVersions")
def list_versions(case_id: int, user: CurrentUser, session: SessionDep) -> list[ReportOut]:
    return [_out(r) for r in service.list_versions(session, case_id=case_id, user=user)]


@router.get("/api/cases/{case_id}/report", response_model=ReportOut, operation_id="getCurrentReport")
def current(case_id: int, user: CurrentUser, session: SessionDep) -> ReportOut:
    """The latest version (draft or signed)."""
    return _out(service.current_report(session, case_id=case_id, user=user))


@router.post("/api/cases/{case_id}/report", response_model=ReportOut, status_code=201, operation_id="createReport")
def create(case_id: int, body: ReportIn, user: CurrentUser, session: SessionDep) -> ReportOut:
    return _out(service.create_draft(session, case_id=case_id, user=user, body=body))


@router.put("/api/reports/{report_id}", response_model=ReportOut, operation_id="updateReportDraft")
def update(report_id: int, body: ReportIn, user: CurrentUser, session: SessionDep) -> ReportOut:
    """Replace a draft's values (409 ``report_signed`` once signed)."""
    return _out(service.update_draft(session, report_id=report_id, user=user, body=body))


@router.post("/api/reports/{report_id}/sign", response_model=SignOut, operation_id="signReport")
def sign(report_id: int, user: CurrentUser, session: SessionDep) -> SignOut:
    """Sign; runs the comparison at once when AI results exist (alert e-mails go after the commit)."""
    res = service.sign(session, report_id=report_id, user=user)
    return SignOut(report=_out(res.report), comparison_id=res.comparison_id, outcome=res.outcome,
                   alert_ids=res.alert_ids)


@router.post("/api/reports/{report_id}/amend", response_model=ReportOut, status_code=201, operation_id="amendReport")
def amend(report_id: int, body: AmendIn, user: CurrentUser, session: SessionDep) -> ReportOut:
    """Open a new draft version superseding this signed one."""
    return _out(service.amend(session, report_id=report_id, user=user, reason=body.reason, body=body.values))
