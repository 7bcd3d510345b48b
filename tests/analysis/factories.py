"""Cases and slides made directly through the ORM (independent of the upload path)."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from app.config import get_settings
from app.db.models import Case, Slide
from app.db.session import session_scope
from app.slides.reader import SlideReader
from tests.conftest import SHARED_DATA, Person

SMALL_SVS = SHARED_DATA / "slides" / "CMU-1-Small-Region.svs"


@dataclass
class SlideRef:
    id: int
    case_id: int


def make_slide(owner: Person, *, source: Path = SMALL_SVS, case_state: str = "uploaded") -> SlideRef:
    """A case with one slide copied into storage, metadata read with SlideReader."""
    rel = Path("slides") / str(owner.institution_id) / uuid.uuid4().hex / source.name
    dest = get_settings().storage / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    with SlideReader(dest) as r, session_scope() as s:
        case = Case(institution_id=owner.institution_id, number=f"T-{uuid.uuid4().hex[:8]}", state=case_state,
                    created_by_id=owner.id)
        s.add(case)
        s.flush()
        mpp = r.mpp
        slide = Slide(
            case_id=case.id, institution_id=owner.institution_id, uploaded_by_id=owner.id,
            display_name=source.name, sha256=uuid.uuid4().hex, storage_path=str(rel.parent), open_path=str(rel),
            format=r.vendor, vendor=r.vendor, width=r.dimensions[0], height=r.dimensions[1],
            level_count=r.level_count, level_dimensions=[list(d) for d in r.level_dimensions],
            level_downsamples=r.level_downsamples, mpp_x=mpp[0] if mpp else None, mpp_y=mpp[1] if mpp else None,
            objective_power=r.objective_power, stain="pas", bytes=dest.stat().st_size, status="ready",
            associated_images=r.associated_image_names, reader_options=r.options,
        )
        s.add(slide)
        s.flush()
        return SlideRef(slide.id, case.id)

