"""Admin endpoints: discrepancies, agreement, CSV export, audit log, users, institutions, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from app.admin import service
from app.admin.schemas import (
    AdminUserIn,
    AdminUserOut,
    AdminUserPatch,
    AgreementStats,
    AuditPage,
    DiscrepancyPage,
    InstitutionIn,
    InstitutionOut,
    SettingsIn,
    SettingsOut,
)
from app.deps import RequireAdmin, SessionDep

router = APIRouter(prefix="/api/admin", tags=["admin"])


class DiscrepancyFilters(BaseModel):
    """Query filters shared by the list and the CSV export."""

    institution_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    pathologist_id: int | None = None
    finding: str | None = None  # a finding key (e.g. cellular_crescent) or a field name (e.g. h_grade)
    severity: Literal["major", "minor", "info"] | None = None
    state: Literal["open", "acknowledged", "resolved", "none"] | None = None
    include_superseded: bool = False


FiltersDep = Annotated[DiscrepancyFilters, Query()]


def _kw(f: DiscrepancyFilters) -> dict[str, Any]:
    return f.model_dump()


@router.get("/discrepancies", response_model=DiscrepancyPage, operation_id="adminListDiscrepancies")
def list_discrepancies(user: RequireAdmin, session: SessionDep, filters: FiltersDep,
                       limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                       offset: Annotated[int, Query(ge=0)] = 0) -> DiscrepancyPage:
    return service.list_discrepancies(session, user=user, limit=limit, offset=offset, **_kw(filters))


@router.get("/discrepancies.csv", operation_id="adminExportDiscrepancies",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_discrepancies(user: RequireAdmin, session: SessionDep, filters: FiltersDep) -> Response:
    """Same filters as the list; the export is recorded in the audit log."""
    body = service.export_csv(session, user=user, **_kw(filters))
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="discrepancies.csv"'})


@router.get("/agreement", response_model=AgreementStats, operation_id="adminAgreement")
def agreement(user: RequireAdmin, session: SessionDep, institution_id: int | None = None,
              since: datetime | None = None, until: datetime | None = None) -> AgreementStats:
    """Percent agreement and Cohen's κ (95 % CI) per score, confusion matrices, monthly trend."""
    return service.agreement(session, user=user, institution_id=institution_id, since=since, until=until)


@router.get("/audit", response_model=AuditPage, operation_id="adminAuditLog")
def audit_log(user: RequireAdmin, session: SessionDep, institution_id: int | None = None,
              action: str | None = None, object_type: str | None = None, object_id: str | None = None,
              actor_user_id: int | None = None, since: datetime | None = None, until: datetime | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0)] = 0) -> AuditPage:
    """``action`` matches as a prefix (e.g. ``alert.``); ``chain`` verifies the whole hash chain."""
    return service.audit_log(session, user=user, institution_id=institution_id, action=action,
                             object_type=object_type, object_id=object_id, actor_user_id=actor_user_id,
                             since=since, until=until, limit=limit, offset=offset)


@router.get("/users", response_model=list[AdminUserOut], operation_id="adminListUsers")
def list_users(user: RequireAdmin, session: SessionDep, institution_id: int | None = None) -> list[AdminUserOut]:
    return [AdminUserOut.model_validate(u) for u in service.list_users(session, user=user, institution_id=institution_id)]


@router.post("/users", response_model=AdminUserOut, status_code=201, operation_id="adminCreateUser")
def create_user(body: AdminUserIn, user: RequireAdmin, session: SessionDep) -> AdminUserOut:
    return AdminUserOut.model_validate(service.create_admin_user(
        session, user=user, email=body.email, password=body.password, display_name=body.display_name,
        role=body.role, institution_id=body.institution_id))


@router.patch("/users/{user_id}", response_model=AdminUserOut, operation_id="adminUpdateUser")
def update_user(user_id: int, body: AdminUserPatch, user: RequireAdmin, session: SessionDep) -> AdminUserOut:
    return AdminUserOut.model_validate(
        service.update_user(session, user=user, user_id=user_id, changes=body.model_dump(exclude_unset=True)))


@router.get("/institutions", response_model=list[InstitutionOut], operation_id="adminListInstitutions")
def list_institutions(user: RequireAdmin, session: SessionDep) -> list[InstitutionOut]:
    return [InstitutionOut.model_validate(i) for i in service.list_institutions(session, user=user)]


@router.post("/institutions", response_model=InstitutionOut, status_code=201, operation_id="adminCreateInstitution")
def create_institution(body: InstitutionIn, user: RequireAdmin, session: SessionDep) -> InstitutionOut:
    return InstitutionOut.model_validate(service.create_institution(session, user=user, code=body.code, name=body.name))


@router.get("/institutions/{institution_id}/settings", response_model=SettingsOut,
            operation_id="adminGetSettings")
def get_settings(institution_id: int, user: RequireAdmin, session: SessionDep) -> SettingsOut:
    return service.get_settings_of(session, user=user, institution_id=institution_id)


@router.put("/institutions/{institution_id}/settings", response_model=SettingsOut,
            operation_id="adminUpdateSettings")
def update_settings(institution_id: int, body: SettingsIn, user: RequireAdmin, session: SessionDep) -> SettingsOut:
    """Thresholds (AssessmentConfig keys) and the blinded read; assessments are recomputed at once."""
    return service.update_settings(session, user=user, institution_id=institution_id, body=body)
