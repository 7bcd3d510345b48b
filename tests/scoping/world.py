"""Two institutions with one of every scoped object each, for the authorization matrix.

Objects are built through a generic ORM factory that fills any required column the caller did not
give, so a new NOT NULL column in someone else's model does not break the matrix. Every string the
*other* institution owns carries ``LEAK_MARKER``: if it ever shows up in a response to a user of the
home institution, something read across the boundary.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON, TypeDecorator

from app.auth.security import hash_password
from app.auth.service import get_or_create_institution, issue_token
from app.config import get_settings
from app.db import models as m
from app.db.base import utcnow
from app.db.models import TokenKind
from app.db.session import session_scope
from tests.conftest import SHARED_DATA

LEAK_MARKER = "LEAKH2"
HOME, OTHER = "H1", "H2"
SLIDE_FILE = SHARED_DATA / "slides" / "CMU-1-Small-Region.svs"
_PASSWORD_HASH = hash_password("matrix-password-1")  # once: argon2 is deliberately slow


def _dummy(col: Any, tag: str) -> Any:
    t = col.type
    if isinstance(t, TypeDecorator):
        t = t.impl if not isinstance(t.impl, type) else t.impl()
    if isinstance(t, Boolean):
        return False
    if isinstance(t, (Integer, BigInteger)):
        return 1
    if isinstance(t, Float):
        return 1.0
    if isinstance(t, DateTime):
        return utcnow() + timedelta(days=1)
    if isinstance(t, Date):
        return date.today()
    if isinstance(t, JSON):
        return {}
    if isinstance(t, (String, Text)):
        n = getattr(t, "length", None) or 64
        return f"{tag}-{col.name}"[:n]
    raise TypeError(f"no dummy value for {col.table.name}.{col.name} ({t!r})")


def make(session: Session, model: type[Any], *, tag: str, **given: Any) -> Any:
    """An instance of ``model`` with ``given`` values and a dummy for every other required column."""
    values = dict(given)
    for col in model.__table__.columns:
        if col.name in values or col.nullable or col.default is not None or col.server_default is not None:
            continue
        if col.primary_key and isinstance(col.type, Integer):
            continue  # autoincrement
        values[col.name] = _dummy(col, tag)
    obj = model(**values)
    session.add(obj)
    session.flush()
    return obj


@dataclass
class Side:
    """The objects of one institution (ids), keyed by the path parameter that addresses them."""

    code: str
    institution_id: int
    case_number: str
    params: dict[str, Any] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


@dataclass
class World:
    home: Side
    other: Side

    def token(self, user_id: int) -> str:
        """A fresh bearer token per request, so a route that logs out cannot spoil the next request."""
        with session_scope() as s:
            user = s.get(m.User, user_id)
            assert user is not None
            return issue_token(s, user=user, kind=TokenKind.api, name="matrix")


def _side(s: Session, code: str, storage: Path) -> Side:
    tag = LEAK_MARKER if code == OTHER else "home"
    inst = get_or_create_institution(s, code=code, name=f"{tag} hospital")
    side = Side(code, inst.id, f"{code}-{tag}-0001")
    users: dict[str, m.User] = {}
    for role in ("pathologist", "admin", "network_admin"):
        users[role] = make(s, m.User, tag=tag, institution_id=inst.id, email=f"{role}@{tag.lower()}-{code.lower()}.example",
                           display_name=f"{tag} {role}", role=role, password_hash=_PASSWORD_HASH)
    side.users = {r: u.id for r, u in users.items()}
    author = users["pathologist"]
    case = make(s, m.Case, tag=tag, institution_id=inst.id, number=side.case_number, created_by_id=author.id)
    rel = Path("slides") / str(inst.id) / uuid.uuid4().hex
    (storage / rel).mkdir(parents=True)
    shutil.copy(SLIDE_FILE, storage / rel / "slide.svs")
    slide = make(s, m.Slide, tag=tag, case_id=case.id, institution_id=inst.id, uploaded_by_id=author.id,
                 display_name=f"{tag}-slide.svs", sha256=uuid.uuid4().hex * 2, storage_path=str(rel),
                 open_path=str(rel / "slide.svs"), format="aperio", vendor="aperio", width=2220, height=2967,
                 level_count=1, level_dimensions=[[2220, 2967]], level_downsamples=[1.0], mpp_x=0.499, mpp_y=0.499,
                 stain="pas", bytes=SLIDE_FILE.stat().st_size, associated_images=["thumbnail"])
    job = make(s, m.AnalysisJob, tag=tag, slide_id=slide.id, institution_id=inst.id, requested_by_id=author.id,
               state="succeeded", finished_at=utcnow(), stage="done", progress=1.0)
    make(s, m.Glomerulus, tag=tag, job_id=job.id, slide_id=slide.id, index=0, polygon=[[0, 0], [50, 0], [50, 50]],
         bbox_x0=0, bbox_y0=0, bbox_x1=50, bbox_y1=50, detection_score=0.9,
         findings={"global_sclerosis": 0.9}, status="abnormal", flags=[])
    make(s, m.ClinicalRecord, tag=tag, case_id=case.id, institution_id=inst.id, age_years=50, sex="male",
         clinical_diagnosis=f"{tag} diagnosis", creatinine_mg_dl=1.0, egfr=63.4)
    make(s, m.ClinicalFollowup, tag=tag, case_id=case.id, institution_id=inst.id, measured_on=date(2025, 6, 1),
         note=f"{tag} note")
    report = make(s, m.Report, tag=tag, case_id=case.id, institution_id=inst.id, version=1, author_id=author.id,
                  status="signed", values={}, signed_at=utcnow())
    assessment = make(s, m.CaseAssessment, tag=tag, case_id=case.id, institution_id=inst.id, rules_version="1.0.0",
                      trigger="ai_results", job_ids=[job.id], stain="pas")
    comparison = make(s, m.Comparison, tag=tag, case_id=case.id, institution_id=inst.id, report_id=report.id,
                      assessment_id=assessment.id, pathologist_id=author.id, trigger="report_signed",
                      outcome="discrepant")
    alert = make(s, m.Alert, tag=tag, case_id=case.id, institution_id=inst.id, comparison_id=comparison.id,
                 report_id=report.id, author_id=author.id, assignee_id=users["admin"].id, fields=["M"])
    notes = {role: make(s, m.Notification, tag=tag, user_id=u.id, kind="alert", title=f"{tag} note for {role}")
             for role, u in users.items()}
    upload = make(s, m.Upload, tag=tag, id=uuid.uuid4().hex, institution_id=inst.id, user_id=author.id,
                  case_id=case.id, filename=f"{tag}.svs", stain="pas", length=10,
                  expires_at=utcnow() + timedelta(days=1))
    side.params = {
        "case_id": case.id, "slide_id": slide.id, "job_id": job.id, "report_id": report.id, "alert_id": alert.id,
        "notification_id": notes, "upload_id": upload.id, "user_id": author.id, "institution_id": inst.id,
        "institution": code, "institution_code": code,
    }
    return side


def build_world() -> World:
    storage = get_settings().storage
    with session_scope() as s:
        home = _side(s, HOME, storage)
        other = _side(s, OTHER, storage)
    return World(home, other)


def today_iso() -> str:
    return datetime.now().date().isoformat()
