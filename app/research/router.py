"""Research export for the network (DOMAIN.md §6–§7, issue 6 item 5)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.deps import RequireAdmin, SessionDep
from app.research import service

router = APIRouter(prefix="/api/research", tags=["research"])


@router.get("/export", operation_id="researchExport", response_class=Response,
            responses={200: {"content": {"application/zip": {}}, "description": "zip of CSVs and GeoJSON"}})
def export(
    user: RequireAdmin,
    session: SessionDep,
    date_from: Annotated[date | None, Query(alias="from", description="biopsy date ≥ (YYYY-MM-DD)")] = None,
    date_to: Annotated[date | None, Query(alias="to", description="biopsy date ≤ (YYYY-MM-DD)")] = None,
    institution: Annotated[str | None, Query(description="institution code; network admins only for others")] = None,
) -> Response:
    """De-identified zip; network admins may export any institution (default all), site admins their own."""
    data, name = service.export(session, user=user, date_from=date_from, date_to=date_to, institution=institution)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
