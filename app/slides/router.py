"""Slide metadata, thumbnail, associated images and Deep Zoom tiles.

Image routes are plain `def`: FastAPI runs them in its threadpool, so decoding and JPEG encoding
never block the event loop. Image responses carry a strong ETag and are immutable for the client.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from app.deps import CurrentUser, RequireAdmin, SessionDep
from app.slides import service
from app.slides.schemas import SlideOut, SlidePatch

router = APIRouter(prefix="/api/slides", tags=["slides"])

IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match")]


def _image(r: service.Rendered, if_none_match: str | None) -> Response:
    headers = {"ETag": r.etag, "Cache-Control": f"private, max-age={service.CACHE_MAX_AGE_S}, immutable"}
    if service.etag_matches(if_none_match, r.etag):
        return Response(status_code=304, headers=headers)
    return Response(r.body, media_type=r.media_type, headers=headers)


def _not_modified(etag: str, if_none_match: str | None) -> Response | None:
    if service.etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={
            "ETag": etag, "Cache-Control": f"private, max-age={service.CACHE_MAX_AGE_S}, immutable"})
    return None


@router.get("/{slide_id}", response_model=SlideOut, operation_id="getSlide")
def get_slide(slide_id: int, user: CurrentUser, session: SessionDep) -> SlideOut:
    """Slide metadata (dimensions, levels, µm/px, vendor, associated images); audited as a view."""
    return service.view_slide(session, user=user, slide_id=slide_id)


@router.patch("/{slide_id}", response_model=SlideOut, operation_id="updateSlide")
def update_slide(slide_id: int, body: SlidePatch, user: CurrentUser, session: SessionDep) -> SlideOut:
    return service.update_stain(session, user=user, slide_id=slide_id, stain=body.stain.value)


@router.delete("/{slide_id}", status_code=204, operation_id="deleteSlide")
def delete_slide(slide_id: int, user: RequireAdmin, session: SessionDep) -> Response:
    """Admin only; the slide's files are removed once the deletion has committed."""
    service.delete_slide(session, user=user, slide_id=slide_id)
    return Response(status_code=204)


@router.get("/{slide_id}/thumbnail.jpg", operation_id="getSlideThumbnail",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def thumbnail(slide_id: int, user: CurrentUser, session: SessionDep, if_none_match: IfNoneMatch = None,
              max: Annotated[int, Query(ge=16, le=2048)] = 512) -> Response:
    slide = service.get_slide(session, user=user, slide_id=slide_id)
    cached = _not_modified(service.etag_for(slide, "thumbnail", max), if_none_match)
    return cached or _image(service.thumbnail(slide, max_size=max), if_none_match)


@router.get("/{slide_id}/associated/{name}.jpg", operation_id="getSlideAssociatedImage",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def associated_image(slide_id: int, name: str, user: CurrentUser, session: SessionDep,
                     if_none_match: IfNoneMatch = None) -> Response:
    """Label, macro or thumbnail image stored in the slide file (names listed in the metadata)."""
    slide = service.get_slide(session, user=user, slide_id=slide_id)
    return _image(service.associated(slide, name=name), if_none_match)


@router.get("/{slide_id}/dzi", operation_id="getSlideDzi", response_class=Response,
            responses={200: {"content": {"application/xml": {}}}})
def dzi(slide_id: int, user: CurrentUser, session: SessionDep, if_none_match: IfNoneMatch = None) -> Response:
    """Deep Zoom descriptor; OpenSeadragon derives tile URLs as `<this url>_files/<level>/<col>_<row>.jpeg`."""
    slide = service.get_slide(session, user=user, slide_id=slide_id)
    xml, etag = service.dzi_xml(slide)
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={service.CACHE_MAX_AGE_S}, immutable"}
    if service.etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(xml, media_type="application/xml", headers=headers)


@router.get("/{slide_id}/dzi_files/{level}/{col}_{row}.jpeg", operation_id="getSlideTile",
            response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def dzi_tile(slide_id: int, level: int, col: int, row: int, user: CurrentUser, session: SessionDep,
             if_none_match: IfNoneMatch = None) -> Response:
    slide = service.get_slide(session, user=user, slide_id=slide_id)
    cached = _not_modified(service.etag_for(slide, "tile", level, col, row), if_none_match)
    return cached or _image(service.tile(slide, level=level, col=col, row=row), if_none_match)
