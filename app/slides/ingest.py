"""Ingest: turn bytes that arrived (tus, streamed PUT, or a local path for the CLI) into a stored slide.

Order matters, so that a rejected file leaves nothing behind:
    size checks → SHA-256 → duplicate? → stage (move, or safe unzip) → locate the slide file →
    de-identify (hook) → open with SlideReader and decode the lowest level fully → publish the staged
    folder to storage/slides/<institution>/<uuid>/ with one atomic rename → insert the row.
The published folder is removed again if the transaction rolls back; the staging folder is always
removed. Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import openslide
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import record
from app.cases.state import set_case_state
from app.config import get_settings
from app.db.models import Case, CaseState, Slide, SlideStatus, Stain
from app.errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMedia
from app.slides import storage
from app.slides.reader import SlideReader, SlideReadError

log = logging.getLogger(__name__)

# A member that inflates more than this is treated as a zip bomb. Slide data is JPEG/JPEG 2000 and
# barely compresses (ratio ≈ 1); text side files (Slidedat.ini, XML) are tiny.
MAX_ZIP_RATIO = 100
ZIP_RATIO_MIN_BYTES = 1 << 20
# Decoding the lowest level fully catches corrupt tiles; above this many pixels (a huge single-level
# file) we decode an evenly spread sample of blocks instead so ingest time stays bounded.
MAX_VALIDATE_PIXELS = 256 * 1024 * 1024
VALIDATE_BLOCK = 2048

VENDOR_NAMES = {
    "aperio": "Aperio (Leica)",
    "hamamatsu": "Hamamatsu",
    "mirax": "3DHISTECH",
    "leica": "Leica",
    "ventana": "Roche Ventana",
    "philips": "Philips",
    "sakura": "Sakura",
    "trestle": "Trestle",
    "zeiss": "Zeiss",
    "dicom": "DICOM",
}

_BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
_EXT = re.compile(r"^\.[a-z0-9]{1,8}$")
_DICOM_MAGIC_OFFSET = 128


class InvalidFilename(BadRequest):
    code = "invalid_filename"


class EmptyFile(BadRequest):
    code = "empty_file"


class UnsupportedFormat(UnsupportedMedia):
    code = "unsupported_format"


class UnreadableSlide(Unprocessable):
    code = "unreadable_slide"


class UnsafeArchive(BadRequest):
    code = "unsafe_archive"


class ZipBomb(PayloadTooLarge):
    code = "zip_bomb"


@dataclass
class IngestResult:
    slide: Slide
    duplicate: bool


@dataclass
class SlideFacts:
    """What OpenSlide told us about a slide that opened and decoded."""

    format: str
    vendor: str | None
    width: int
    height: int
    level_count: int
    level_dimensions: list[list[int]]
    level_downsamples: list[float]
    mpp: tuple[float, float] | None
    objective_power: float | None
    associated_images: list[str]
    reader_options: dict[str, Any] = field(default_factory=dict)


# -- names and sizes ------------------------------------------------------------------------------
def check_filename(name: str) -> str:
    """A client-supplied file name: a bare name, no path, no control characters."""
    if not name or not name.strip():
        raise InvalidFilename("A file name is required.")
    if len(name) > 255:
        raise InvalidFilename("The file name is longer than 255 characters.")
    if _BAD_NAME_CHARS.search(name) or name.strip() in (".", "..") or name.startswith(".."):
        raise InvalidFilename(
            f"The file name {name[:80]!r} contains a path or control characters; send the bare file name."
        )
    return name.strip()


def extension_of(name: str) -> str:
    ext = PurePosixPath(name.lower()).suffix
    return ext if _EXT.match(ext) else ""


def check_stain(stain: str) -> str:
    try:
        return Stain(stain.strip().lower()).value
    except ValueError:
        allowed = ", ".join(s.value for s in Stain)
        raise BadRequest(f"Unknown stain {stain[:40]!r}; use one of {allowed}.", code="invalid_stain") from None


def check_declared_size(length: int) -> None:
    """Refuse by the declared size, before a byte is stored."""
    limit = get_settings().max_upload_bytes
    if length <= 0:
        raise EmptyFile("The file is empty (0 bytes).")
    if length > limit:
        raise PayloadTooLarge(
            f"The file is {_human(length)}; the upload limit is {_human(limit)}.", code="file_too_large"
        )


def _human(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


# -- format sniffing ------------------------------------------------------------------------------
def sniff(path: Path) -> str:
    """A coarse content type from magic bytes: zip, tiff, dicom, jpeg, png, pdf, text or binary."""
    with path.open("rb") as f:
        head = f.read(512)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[_DICOM_MAGIC_OFFSET:_DICOM_MAGIC_OFFSET + 4] == b"DICM":
        return "dicom"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"%PDF"):
        return "pdf"
    try:
        head.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "binary"


_KIND_WORDS = {
    "jpeg": "a JPEG photo",
    "png": "a PNG image",
    "pdf": "a PDF document",
    "text": "plain text",
    "binary": "no whole-slide format OpenSlide knows",
}


# -- zip archives ---------------------------------------------------------------------------------
def _member_parts(name: str) -> list[str]:
    """Validated path components of a zip member name (raises on every path trick)."""
    if "\x00" in name or any(ord(c) < 32 for c in name):
        raise UnsafeArchive(f"The zip member {name[:80]!r} has control characters in its name.")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise UnsafeArchive(f"The zip member {name[:80]!r} has an absolute path.")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchive(f"The zip member {name[:80]!r} points outside the archive folder ('..').")
    return parts


def safe_extract(zip_path: Path, dest: Path) -> None:
    """Extract a zip into `dest`, refusing path tricks, links, too many members and zip bombs.

    Sizes declared in the archive are checked first (nothing is written for an obvious bomb) and the
    bytes actually inflated are counted again while writing, since declared sizes can lie.
    """
    s = get_settings()
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableSlide(f"The zip archive is damaged and cannot be read: {exc}", code="bad_zip") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > s.max_zip_members:
            raise UnsafeArchive(
                f"The zip has {len(infos)} members; at most {s.max_zip_members} are accepted.",
                code="zip_too_many_members",
            )
        total = 0
        seen: set[str] = set()
        plan: list[tuple[zipfile.ZipInfo, list[str]]] = []
        for info in infos:
            parts = _member_parts(info.filename)
            mode = (info.external_attr >> 16) & 0o170000
            if mode == stat.S_IFLNK:
                raise UnsafeArchive(f"The zip member {info.filename[:80]!r} is a symbolic link; links are refused.")
            if mode not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchive(f"The zip member {info.filename[:80]!r} is not a regular file.")
            if info.flag_bits & 0x1:
                raise UnsafeArchive(f"The zip member {info.filename[:80]!r} is encrypted.", code="zip_encrypted")
            if info.is_dir() or not parts:
                continue
            key = "/".join(parts).lower()
            if key in seen:
                raise UnsafeArchive(f"The zip contains {info.filename[:80]!r} twice.")
            seen.add(key)
            total += info.file_size
            if info.file_size > ZIP_RATIO_MIN_BYTES and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
                raise ZipBomb(
                    f"The zip member {info.filename[:80]!r} would inflate {info.file_size // max(info.compress_size, 1)}"
                    f"-fold ({_human(info.compress_size)} → {_human(info.file_size)}): refused as a zip bomb."
                )
            plan.append((info, parts))
        if total > s.max_unzipped_bytes:
            raise ZipBomb(
                f"The zip would unpack to {_human(total)}; the limit is {_human(s.max_unzipped_bytes)}.",
                code="zip_too_large",
            )
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written = 0
        for info, parts in plan:
            target = root.joinpath(*parts)
            if root not in target.resolve().parents:
                raise UnsafeArchive(f"The zip member {info.filename[:80]!r} points outside the archive folder.")
            target.parent.mkdir(parents=True, exist_ok=True)
            member_written = 0
            try:
                with zf.open(info) as src, target.open("xb") as out:
                    while chunk := src.read(storage.CHUNK):
                        member_written += len(chunk)
                        written += len(chunk)
                        if member_written > info.file_size or written > s.max_unzipped_bytes:
                            raise ZipBomb(f"The zip member {info.filename[:80]!r} inflates beyond its declared size.")
                        out.write(chunk)
            except (zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
                raise UnreadableSlide(
                    f"The zip member {info.filename[:80]!r} cannot be extracted: {exc}", code="bad_zip"
                ) from exc


def _is_dicom(p: Path) -> bool:
    try:
        with p.open("rb") as f:
            f.seek(_DICOM_MAGIC_OFFSET)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def locate_slide(root: Path) -> Path:
    """The file OpenSlide should open inside an unpacked folder: an .mrxs, a DICOM series, or the
    single slide file. Anything ambiguous is refused rather than guessed."""
    files = [p for p in root.rglob("*") if p.is_file() and "__MACOSX" not in p.parts and not p.name.startswith("._")]
    if not files:
        raise UnreadableSlide("The zip archive contains no files.", code="no_slide_in_zip")
    mrxs = [p for p in files if p.suffix.lower() == ".mrxs"]
    if len(mrxs) > 1:
        raise UnreadableSlide("The zip holds more than one .mrxs slide; upload one slide per zip.", code="many_slides")
    if mrxs:
        m = mrxs[0]
        if not (m.parent / m.stem).is_dir():
            raise UnreadableSlide(
                f"The MRXS slide needs its data folder '{m.stem}/' next to the .mrxs file in the zip.",
                code="mrxs_incomplete",
            )
        return m
    dicoms = [p for p in files if _is_dicom(p)]
    if dicoms:
        folders = {p.parent for p in dicoms}
        if len(folders) > 1:
            raise UnreadableSlide(
                "The DICOM files are spread over several folders; put one series in one folder.", code="many_slides"
            )
        return max(dicoms, key=lambda p: p.stat().st_size)
    candidates = [p for p in files if sniff(p) == "tiff" or p.suffix.lower() in (".vms", ".vmu", ".svslide")]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise UnreadableSlide("The zip holds more than one slide file; upload one slide per zip.", code="many_slides")
    raise UnreadableSlide(
        "The zip contains no slide OpenSlide can read (expected an .mrxs with its folder, a DICOM series, "
        "or one slide file).",
        code="no_slide_in_zip",
    )


# -- opening and validating -----------------------------------------------------------------------
def inspect_slide(open_path: Path) -> SlideFacts:
    """Open with SlideReader and decode the lowest-resolution level fully; raises UnreadableSlide."""
    try:
        with SlideReader(open_path) as r:
            _decode_lowest_level(r)
            assoc = []
            for name in r.associated_image_names:
                try:
                    r.associated_image(name).load()
                    assoc.append(name)
                except Exception:  # noqa: BLE001 - an undecodable label/macro is dropped, not fatal
                    log.warning("associated image %s of %s does not decode; ignored", name, open_path.name)
            w, h = r.dimensions
            fmt = r.vendor
            vendor = VENDOR_NAMES.get(fmt)
            if fmt == "dicom":
                vendor = str(r.properties.get("dicom.Manufacturer") or vendor)[:64]
            return SlideFacts(
                format=fmt[:32],
                vendor=vendor,
                width=w,
                height=h,
                level_count=r.level_count,
                level_dimensions=[list(d) for d in r.level_dimensions],
                level_downsamples=r.level_downsamples,
                mpp=r.mpp,
                objective_power=r.objective_power,
                associated_images=assoc,
                reader_options=dict(r.options),
            )
    except SlideReadError as exc:
        raise UnreadableSlide(f"The slide cannot be read: {exc}") from exc
    except openslide.OpenSlideError as exc:
        raise UnreadableSlide(f"The slide cannot be read: {exc}") from exc
    except (OSError, ValueError, MemoryError) as exc:
        raise UnreadableSlide(f"The slide cannot be decoded: {exc}") from exc


def _decode_lowest_level(r: SlideReader) -> None:
    level = r.level_count - 1
    w, h = r.level_dimensions[level]
    ds = r.level_downsamples[level]
    blocks = [(x, y) for y in range(0, h, VALIDATE_BLOCK) for x in range(0, w, VALIDATE_BLOCK)]
    if w * h > MAX_VALIDATE_PIXELS:
        n = MAX_VALIDATE_PIXELS // (VALIDATE_BLOCK * VALIDATE_BLOCK)
        step = max(1, len(blocks) // n)
        blocks = blocks[::step]
    for x, y in blocks:
        bw, bh = min(VALIDATE_BLOCK, w - x), min(VALIDATE_BLOCK, h - y)
        r.read_region((int(x * ds), int(y * ds)), level, (bw, bh))


# -- de-identification hook -----------------------------------------------------------------------
def deidentify_before_storage(content_root: Path, open_path: Path, *, pseudonym: str) -> tuple[Path, Path, dict[str, Any]]:
    """Every slide passes here after staging and before it reaches storage (DOMAIN.md §7): only the
    de-identified copy is kept. Returns the new content root and open path, plus the certificate
    (as JSON) for the audit log."""
    from app.deid import deidentify

    out_root = content_root.parent / "deid"
    out_root.mkdir()
    is_dicom = open_path.suffix.lower() == ".dcm" or _is_dicom(open_path)
    if is_dicom:
        src: Path = open_path.parent
        dst = out_root / "series"
    else:
        src = open_path
        dst = out_root / f"slide{open_path.suffix.lower()}"
    cert = deidentify(src, dst, pseudonym=pseudonym)
    storage.remove_path(content_root)
    certificate: dict[str, Any] = cert.model_dump(mode="json")
    return out_root, locate_slide(out_root), certificate


# -- the ingest itself ----------------------------------------------------------------------------
def find_duplicate(session: Session, *, case_id: int, sha256: str) -> Slide | None:
    return session.execute(select(Slide).where(Slide.case_id == case_id, Slide.sha256 == sha256)).scalar_one_or_none()


def ingest_file(
    session: Session,
    *,
    case: Case,
    src: Path,
    filename: str,
    stain: str,
    user_id: int | None,
    display_name: str | None = None,
    consume: bool = True,
) -> IngestResult:
    """Ingest one received file (a slide file or a .zip of one slide).

    `consume=True` moves `src` into staging (it is gone afterwards, whatever the outcome), which is
    what uploads want; `consume=False` copies it (the CLI's local files stay where they are).
    """
    filename = check_filename(filename)
    stain = check_stain(stain)
    staging: Path | None = None
    try:
        size = src.stat().st_size
        check_declared_size(size)
        sha = storage.sha256_file(src)
        existing = find_duplicate(session, case_id=case.id, sha256=sha)
        if existing is not None:
            _audit_duplicate(session, case=case, slide=existing, user_id=user_id)
            return IngestResult(existing, True)
        staging = storage.new_staging_dir()
        received = staging / f"received{extension_of(filename)}"
        if consume:
            shutil.move(src, received)
        else:
            shutil.copyfile(src, received)
        kind = sniff(received)
        content = staging / "content"
        if kind == "zip":
            safe_extract(received, content)
            storage.remove_path(received)
            open_path = locate_slide(content)
        else:
            content.mkdir()
            open_path = content / f"slide{extension_of(filename)}"
            received.rename(open_path)
            _check_single_file_format(open_path, kind, filename)
        return _finish(session, case=case, staging=staging, content=content, open_path=open_path, sha=sha,
                       size=size, stain=stain, user_id=user_id, display_name=display_name)
    finally:
        if consume:
            storage.remove_path(src)
        if staging is not None:
            storage.remove_path(staging)


def ingest_local_file(
    session: Session,
    *,
    case: Case,
    path: Path,
    stain: str,
    user_id: int | None,
    display_name: str | None = None,
) -> Slide:
    """Copy a local slide into storage (CLI/demo): a slide file, a .zip, a DICOM series folder, or an
    .mrxs (its data folder is taken along). The source is left untouched. A file already in the case
    returns the existing slide. Raises the same domain errors as an upload."""
    path = Path(path)
    if not path.exists():
        raise BadRequest(f"No such file or folder: {path}", code="not_found")
    if path.is_file() and path.suffix.lower() != ".mrxs":
        return ingest_file(session, case=case, src=path, filename=path.name, stain=stain, user_id=user_id,
                           display_name=display_name, consume=False).slide
    stain = check_stain(stain)
    staging = storage.new_staging_dir()
    try:
        content = staging / "content"
        content.mkdir()
        if path.is_dir():
            _copy_tree(path, content)
        else:  # .mrxs + its data folder
            folder = path.parent / path.stem
            if not folder.is_dir():
                raise UnreadableSlide(f"The MRXS slide needs its data folder '{path.stem}/' next to it.",
                                      code="mrxs_incomplete")
            shutil.copyfile(path, content / path.name)
            _copy_tree(folder, content / folder.name)
        size = storage.tree_size(content)
        check_declared_size(size)
        sha = storage.sha256_tree(content)
        existing = find_duplicate(session, case_id=case.id, sha256=sha)
        if existing is not None:
            _audit_duplicate(session, case=case, slide=existing, user_id=user_id)
            return existing
        open_path = locate_slide(content)
        return _finish(session, case=case, staging=staging, content=content, open_path=open_path, sha=sha,
                       size=size, stain=stain, user_id=user_id, display_name=display_name).slide
    finally:
        storage.remove_path(staging)


def _copy_tree(src: Path, dst: Path) -> None:
    for p in src.rglob("*"):
        if p.is_symlink():
            raise UnsafeArchive(f"{p.name} is a symbolic link; links are refused.")
    shutil.copytree(src, dst, dirs_exist_ok=True)


def _check_single_file_format(path: Path, kind: str, filename: str) -> None:
    try:
        vendor = openslide.OpenSlide.detect_format(str(path))
    except (openslide.OpenSlideError, OSError):
        vendor = None
    if vendor:
        return
    if kind in ("tiff", "dicom"):
        what = "a TIFF" if kind == "tiff" else "a DICOM file"
        raise UnreadableSlide(
            f"{filename!s} is {what} but not a whole-slide image OpenSlide can read (damaged, truncated, "
            "or a plain image without a slide pyramid)."
        )
    raise UnsupportedFormat(
        f"{filename!s} is not a whole-slide image: its content looks like {_KIND_WORDS.get(kind, kind)}. "
        "Upload a slide file (SVS, NDPI, TIFF, …) or a .zip holding a DICOM series or an MRXS slide."
    )


def _finish(
    session: Session,
    *,
    case: Case,
    staging: Path,
    content: Path,
    open_path: Path,
    sha: str,
    size: int,
    stain: str,
    user_id: int | None,
    display_name: str | None,
) -> IngestResult:
    facts = inspect_slide(open_path)  # first, so a corrupt file is reported as such, not as a de-id failure
    content, open_path, certificate = deidentify_before_storage(content, open_path, pseudonym=case.number)
    if certificate:
        facts = inspect_slide(open_path)  # what is stored is what is described
    slide_uuid = uuid.uuid4().hex
    dest = storage.slides_dir() / str(case.institution_id) / slide_uuid
    rel_open = open_path.resolve().relative_to(content.resolve())
    storage.publish(content, dest)
    storage.on_rollback(session, lambda: storage.remove_path(dest))
    try:
        slide = Slide(
            case_id=case.id,
            institution_id=case.institution_id,
            uploaded_by_id=user_id,
            display_name=(display_name or _default_display_name(session, case, stain))[:255],
            sha256=sha,
            storage_path=storage.relative(dest),
            open_path=storage.relative(dest / rel_open),
            format=facts.format,
            vendor=facts.vendor,
            width=facts.width,
            height=facts.height,
            level_count=facts.level_count,
            level_dimensions=facts.level_dimensions,
            level_downsamples=facts.level_downsamples,
            mpp_x=facts.mpp[0] if facts.mpp else None,
            mpp_y=facts.mpp[1] if facts.mpp else None,
            objective_power=facts.objective_power,
            stain=stain,
            bytes=size,
            status=SlideStatus.ready.value,
            associated_images=facts.associated_images,
            reader_options=facts.reader_options,
        )
        with session.begin_nested():
            session.add(slide)
            session.flush()
    except IntegrityError:
        # The same bytes landed in this case concurrently: report theirs, drop ours.
        storage.remove_path(dest)
        existing = find_duplicate(session, case_id=case.id, sha256=sha)
        if existing is None:
            raise
        _audit_duplicate(session, case=case, slide=existing, user_id=user_id)
        return IngestResult(existing, True)
    except BaseException:
        storage.remove_path(dest)
        raise
    details: dict[str, Any] = {"sha256": sha, "bytes": size, "format": facts.format, "stain": stain,
                               "case_id": case.id}
    if certificate:
        details["deidentification"] = certificate
    record(session, "slide.uploaded", institution_id=case.institution_id, actor_user_id=user_id,
           object_type="slide", object_id=slide.id, details=details)
    if certificate:
        # A de-identified slide is stored: the case moves on (DOMAIN.md §1); later states stay.
        set_case_state(session, case, CaseState.deidentified, actor_user_id=user_id,
                       reason=f"slide {slide.id} de-identified and stored", only_from=[CaseState.uploaded])
    return IngestResult(slide, False)


def _default_display_name(session: Session, case: Case, stain: str) -> str:
    """A neutral name: the original file name may identify the patient (DOMAIN.md §7)."""
    n = session.execute(select(Slide.id).where(Slide.case_id == case.id)).all()
    return f"{case.number} {stain.upper()} {len(n) + 1}"


def _audit_duplicate(session: Session, *, case: Case, slide: Slide, user_id: int | None) -> None:
    record(session, "slide.upload_duplicate", institution_id=case.institution_id, actor_user_id=user_id,
           object_type="slide", object_id=slide.id, details={"sha256": slide.sha256, "case_id": case.id})
