"""`glomcheck demo`: a working installation in one command — demo users, a case with a slide, the server."""

from __future__ import annotations

import hashlib
import secrets
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from app.db.models import Case, Slide

DEMO_INSTITUTION = "DEMO"
DEMO_INSTITUTION_NAME = "Demo Hospital (synthetic data only)"
DEMO_USERS = (("pathologist@demo.glomcheck.local", "pathologist", "Demo Pathologist"),
              ("admin@demo.glomcheck.local", "admin", "Demo Admin"))
DEMO_SLIDE_SEED = 7
DEMO_SLIDE_NAME = "demo-renal-biopsy-pas.tiff"


@dataclass
class DemoInfo:
    credentials: list[tuple[str, str, str]]  # (email, password, role)
    case_number: str
    slide_id: int


def demo_slide_file() -> Path:
    """A small synthetic PAS renal biopsy, rendered once (deterministic seed) and cached under var/."""
    from app.config import get_settings

    out = get_settings().var_dir.resolve() / "demo" / DEMO_SLIDE_NAME
    if out.is_file():
        return out
    try:
        from worker.synth import make_slide
    except ImportError as exc:  # pragma: no cover - synth ships with the package
        raise click.ClickException("The synthetic slide generator (worker.synth) is not installed.") from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial.tiff")
    make_slide(tmp, seed=DEMO_SLIDE_SEED, stain="pas", fmt="tiff", size="small")
    tmp.replace(out)
    return out


def _ensure_users(session: Session) -> list[tuple[str, str, str]]:
    """Create the demo users, or give existing ones a fresh password so the printed one always works."""
    from app.auth.security import hash_password
    from app.auth.service import create_user
    from app.db.models import Role, User

    creds = []
    for email, role, name in DEMO_USERS:
        password = secrets.token_urlsafe(9)
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            create_user(session, email=email, password=password, institution_code=DEMO_INSTITUTION,
                        institution_name=DEMO_INSTITUTION_NAME, role=Role(role), display_name=name)
        else:
            user.password_hash = hash_password(password)
            user.is_active = True
        creds.append((email, password, role))
    session.flush()
    return creds


def _ensure_case_and_slide(session: Session, slide_file: Path) -> tuple[str, int]:
    from app.audit.service import record
    from app.db.models import Case, Institution, Slide, User

    inst = session.execute(select(Institution).where(Institution.code == DEMO_INSTITUTION)).scalar_one()
    existing = session.execute(
        select(Slide, Case).join(Case, Case.id == Slide.case_id)
        .where(Slide.institution_id == inst.id, Slide.display_name == DEMO_SLIDE_NAME)
    ).first()
    if existing is not None:
        return existing[1].number, existing[0].id
    user_id = session.execute(select(User.id).where(User.email == DEMO_USERS[0][0])).scalar_one()
    number = f"DEMO-{inst.next_case_number:04d}"
    inst.next_case_number += 1
    case = Case(institution_id=inst.id, number=number, created_by_id=user_id)
    session.add(case)
    session.flush()
    record(session, "case.created", institution_id=inst.id, actor_user_id=user_id, object_type="case",
           object_id=case.id, details={"number": number, "source": "demo"})
    try:
        from app.slides.ingest import ingest_local_file
    except ImportError:
        slide = _register_slide_file(session, case=case, path=slide_file, user_id=user_id)
    else:
        slide = ingest_local_file(session, case=case, path=slide_file, stain="pas", user_id=user_id,
                                  display_name=DEMO_SLIDE_NAME)
    return number, slide.id


def _register_slide_file(session: Session, *, case: Case, path: Path, user_id: int) -> Slide:
    """Minimal stand-in for the upload ingest path (used only if `app.slides.ingest` is absent)."""
    from app.config import get_settings
    from app.db.models import Slide
    from app.slides.reader import SlideReader

    rel = Path("slides") / str(case.institution_id) / uuid.uuid4().hex / path.name
    dest = get_settings().storage / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, dest)
    with SlideReader(dest) as r:
        mpp = r.mpp
        slide = Slide(
            case_id=case.id, institution_id=case.institution_id, uploaded_by_id=user_id,
            display_name=DEMO_SLIDE_NAME, sha256=hashlib.sha256(dest.read_bytes()).hexdigest(),
            storage_path=str(rel.parent), open_path=str(rel), format=r.vendor, vendor=r.vendor,
            width=r.dimensions[0], height=r.dimensions[1], level_count=r.level_count,
            level_dimensions=[list(d) for d in r.level_dimensions], level_downsamples=r.level_downsamples,
            mpp_x=mpp[0] if mpp else None, mpp_y=mpp[1] if mpp else None, objective_power=r.objective_power,
            stain="pas", bytes=dest.stat().st_size, status="ready", associated_images=r.associated_image_names,
            reader_options=r.options,
        )
    session.add(slide)
    session.flush()
    return slide


def prepare_demo() -> DemoInfo:
    """Migrate, then create (or refresh) the demo institution, users, case and slide."""
    from app.config import get_settings
    from app.db.migrate import upgrade
    from app.db.session import session_scope

    upgrade(get_settings().db_url)
    slide_file = demo_slide_file()
    with session_scope() as session:
        creds = _ensure_users(session)
        number, slide_id = _ensure_case_and_slide(session, slide_file)
    return DemoInfo(creds, number, slide_id)


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Only prepare the demo data; do not start the server.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Set up a demo institution, users and a synthetic slide, then start the server."""
    info = prepare_demo()
    url = f"http://{host}:{port}/"
    click.echo("")
    click.echo("glomcheck demo is ready (synthetic data only; never upload patient data to a demo).")
    for email, password, role in info.credentials:
        click.echo(f"  {role:<12} {email}  password: {password}")
    click.echo(f"  case {info.case_number}, slide id {info.slide_id}: open the case and press Analyze.")
    click.echo(f"  URL: {url}")
    click.echo("")
    if not no_serve:
        from app.commands.serve import run_server

        run_server(host, port)
