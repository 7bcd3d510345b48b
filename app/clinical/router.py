"""Clinical data of a case (DOMAIN.md §6), CSV import, and the proteinuria outlook."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from app.clinical import importer, outlook, service
from app.clinical.fields import field_catalogue
from app.clinical.schemas import ClinicalIn, ClinicalOut, FollowupIn, FollowupOut, ImportOut, OutlookOut
from app.deps import CurrentUser, SessionDep
from app.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

router = APIRouter(prefix="/api", tags=["clinical"])


async def csv_text(request: Request) -> str:
    """The CSV from a multipart upload (field ``file``) or a raw text/csv body, decoded as UTF-8."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = int(request.headers.get("content-length") or 0)
    if declared > importer.MAX_BYTES + 64 * 1024:
        raise PayloadTooLarge(f"The CSV is larger than {importer.MAX_BYTES // 1024 // 1024} MB; split it.")
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest("Send the CSV as the multipart field 'file'.", code="csv_missing")
        data = await upload.read()
    elif ctype in ("text/csv", "text/plain", "application/csv"):
        data = await request.body()
    else:
        raise UnsupportedMedia("Send the CSV as text/csv or as multipart/form-data with a field 'file'.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The CSV is not UTF-8 text; save it as 'CSV UTF-8'.", code="csv_encoding") from exc


@router.get("/clinical/fields", operation_id="clinicalFields")
def fields(_: CurrentUser) -> list[dict[str, Any]]:
    """Every clinical field with unit, plausible range and allowed values, for the form."""
    return field_catalogue()


@router.get("/cases/{case_id}/clinical", response_model=ClinicalOut, operation_id="getClinical")
def get_clinical(case_id: int, user: CurrentUser, session: SessionDep) -> ClinicalOut:
    return service.read(session, user=user, case_id=case_id)


@router.put("/cases/{case_id}/clinical", response_model=ClinicalOut, operation_id="putClinical")
def put_clinical(case_id: int, body: ClinicalIn, user: CurrentUser, session: SessionDep) -> ClinicalOut:
    """Replace the baseline record; eGFR is recomputed, implausible values are a 422 naming field and range."""
    return service.replace(session, user=user, case_id=case_id, body=body)


@router.post("/cases/{case_id}/clinical/followups", response_model=FollowupOut, status_code=201,
             operation_id="addClinicalFollowup")
def add_followup(case_id: int, body: FollowupIn, user: CurrentUser, session: SessionDep) -> FollowupOut:
    return service.add_followup(session, user=user, case_id=case_id, body=body)


@router.post("/clinical/import", response_model=ImportOut, operation_id="importClinicalCsv")
def import_csv(user: CurrentUser, text: Annotated[str, Depends(csv_text)], session: SessionDep) -> ImportOut:
    """Import many cases at once, keyed by case number; any bad row → 422 with a per-row report, nothing stored."""
    return importer.import_csv(session, user=user, text=text)


@router.get("/cases/{case_id}/proteinuria-outlook", response_model=OutlookOut, operation_id="getProteinuriaOutlook")
def get_outlook(case_id: int, user: CurrentUser, session: SessionDep) -> OutlookOut:
    """12-month urinary protein with interval, or what is missing; always with the model's caveat."""
    return outlook.outlook(session, user=user, case_id=case_id)
