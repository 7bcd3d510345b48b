"""Slide metadata, images and tiles for the viewer; every read goes through the cached SlideReader."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import openslide
from PIL import Image
from sqlalchemy.orm import Session

from app.audit.service import record
from app.config import get_settings
from app.db.models import Slide, User
from app.errors import NotFound, Unprocessable
from app.slides import repository, storage
from app.slides.cache import reader_cache
from app.slides.reader import SlideReadError
from app.slides.schemas import SlideOut

# Bump when the rendering changes (colour fix, encoder), so cached tiles are not reused.
RENDER_VERSION = "1"
CACHE_MAX_AGE_S = 86400


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    media_type: str = "image/jpeg"


def get_slide(session: Session, *, user: User, slide_id: int) -> Slide:
    """The slide if it belongs to the caller's institution; 404 otherwise (existence must not leak)."""
    slide = repository.get_in_institution(session, slide_id=slide_id, institution_id=user.institution_id)
    if slide is None:
        raise NotFound(f"Slide {slide_id} not found.", code="slide_not_found")
    return slide


def view_slide(session: Session, *, user: User, slide_id: int) -> SlideOut:
    slide = get_slide(session, user=user, slide_id=slide_id)
    record(session, "slide.viewed", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="slide", object_id=slide.id, details={"case_id": slide.case_id})
    return to_out(slide)


def to_out(slide: Slide) -> SlideOut:
    s = get_settings()
    out = SlideOut.model_validate(slide)
    out.tile_size, out.tile_overlap = s.tile_size, s.tile_overlap
    return out


def update_stain(session: Session, *, user: User, slide_id: int, stain: str) -> SlideOut:
    slide = get_slide(session, user=user, slide_id=slide_id)
    old = slide.stain
    slide.stain = stain
    session.flush()
    record(session, "slide.stain_changed", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="slide", object_id=slide.id, details={"from": old, "to": stain})
    return to_out(slide)


def delete_slide(session: Session, *, user: User, slide_id: int) -> None:
    """Delete the row now; the files go only once the deletion has committed."""
    slide = get_slide(session, user=user, slide_id=slide_id)
    folder = storage.resolve(slide.storage_path)
    sid = slide.id
    record(session, "slide.deleted", institution_id=user.institution_id, actor_user_id=user.id,
           object_type="slide", object_id=sid, details={"case_id": slide.case_id, "sha256": slide.sha256})
    session.delete(slide)
    session.flush()

    def _remove() -> None:
        reader_cache().evict(sid)
        storage.remove_path(folder)

    storage.on_commit(session, _remove)


# -- pixels ---------------------------------------------------------------------------------------
def etag_for(slide: Slide, *parts: object) -> str:
    s = get_settings()
    raw = "|".join(str(p) for p in (RENDER_VERSION, slide.sha256, sorted(slide.reader_options.items()),
                                       s.tile_size, s.tile_overlap, s.tile_quality, *parts))
    return '"' + hashlib.sha256(raw.encode()).hexdigest()[:40] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        c = candidate.strip()
        if c == "*" or c.removeprefix("W/") == etag:
            return True
    return False


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


@contextmanager
def _open(slide: Slide) -> Iterator[Any]:
    try:
        with reader_cache().reader(slide.id, storage.resolve(slide.open_path), slide.reader_options or None) as e:
            yield e
    except SlideReadError as exc:
        raise Unprocessable(f"The slide file cannot be opened: {exc}", code="slide_unreadable") from exc


def dzi_xml(slide: Slide) -> tuple[str, str]:
    s = get_settings()
    with _open(slide) as e:
        dz = reader_cache().deepzoom(e, tile_size=s.tile_size, overlap=s.tile_overlap)
        return dz.get_dzi("jpeg"), etag_for(slide, "dzi")


def tile(slide: Slide, *, level: int, col: int, row: int) -> Rendered:
    """One Deep Zoom JPEG tile; CPU-bound, so callers run it in the threadpool."""
    s = get_settings()
    with _open(slide) as e:
        dz = reader_cache().deepzoom(e, tile_size=s.tile_size, overlap=s.tile_overlap)
        if not 0 <= level < dz.level_count:
            raise NotFound(f"Deep Zoom level {level} does not exist (levels 0–{dz.level_count - 1}).",
                           code="tile_not_found")
        cols, rows = dz.level_tiles[level]
        if not (0 <= col < cols and 0 <= row < rows):
            raise NotFound(f"Tile {col}_{row} is outside level {level} ({cols}×{rows} tiles).",
                           code="tile_not_found")
        try:
            img = dz.get_tile(level, (col, row))
        except (SlideReadError, openslide.OpenSlideError, ValueError) as exc:
            raise Unprocessable(f"This tile cannot be rendered: {exc}", code="tile_unreadable") from exc
        return Rendered(_jpeg(img, s.tile_quality), etag_for(slide, "tile", level, col, row))


def thumbnail(slide: Slide, *, max_size: int) -> Rendered:
    with _open(slide) as e:
        try:
            img = e.reader.thumbnail(max_size)
        except (SlideReadError, openslide.OpenSlideError) as exc:
            raise Unprocessable(f"The thumbnail cannot be rendered: {exc}", code="tile_unreadable") from exc
        return Rendered(_jpeg(img, 85), etag_for(slide, "thumbnail", max_size))


def associated(slide: Slide, *, name: str) -> Rendered:
    if name not in slide.associated_images:
        raise NotFound(f"Slide {slide.id} has no associated image {name[:40]!r}.", code="associated_not_found")
    with _open(slide) as e:
        try:
            img = e.reader.associated_image(name)
        except (KeyError, SlideReadError, openslide.OpenSlideError, OSError) as exc:
            raise NotFound(f"The associated image {name!r} cannot be read: {exc}",
                           code="associated_not_found") from exc
        return Rendered(_jpeg(img, 90), etag_for(slide, "associated", name))
