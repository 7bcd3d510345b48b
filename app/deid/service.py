"""`deidentify()`: detect the format, rewrite a private temporary copy, verify it, then publish atomically.

The destination only ever appears complete and verified: work happens in a hidden temporary sibling
(same filesystem, so the final `os.replace` is atomic) that is removed on any failure.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openslide

from app.deid import dicom, mrxs
from app.deid.certificate import Certificate
from app.deid.errors import DeidError
from app.deid.tiff import deidentify_tiff
from app.deid.tiffio import parse
from app.deid.verify import ensure_verified, scan_raw, verify_slide
from app.slides.storage import fsync_dir

TIFF_VENDORS = {"aperio": "aperio-svs", "hamamatsu": "hamamatsu-ndpi", "generic-tiff": "generic-tiff"}
VENDOR_OF = {fmt: vendor for vendor, fmt in TIFF_VENDORS.items()}
PSEUDONYM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_NAME_NEEDLE = 6


def sha256_path(path: Path) -> str:
    """SHA-256 of a file, or of a folder as sorted `relative-path NUL sha256` lines."""
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(f"{p.relative_to(path).as_posix()}\0{sha256_path(p)}\n".encode())
        return h.hexdigest()
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_format(src: Path) -> str:
    """One of aperio-svs, hamamatsu-ndpi, generic-tiff, dicom, mrxs; DeidError otherwise."""
    if not src.exists():
        raise DeidError(f"input not found: {src.name}")
    if src.is_dir() or src.suffix.lower() == ".dcm":
        return "dicom"
    if src.suffix.lower() == ".mrxs":
        return "mrxs"
    try:
        vendor = openslide.OpenSlide.detect_format(str(src))
    except (openslide.OpenSlideError, OSError) as exc:
        raise DeidError(f"unreadable slide: {exc}") from exc
    if vendor not in TIFF_VENDORS:
        what = f"'{vendor}' slides" if vendor else "this file type"
        raise DeidError(f"unsupported or unrecognised slide format: {what} cannot be de-identified")
    try:
        openslide.OpenSlide(str(src)).close()
    except (openslide.OpenSlideError, OSError) as exc:
        raise DeidError(f"corrupt {TIFF_VENDORS[vendor]} slide: {exc}") from exc
    return TIFF_VENDORS[vendor]


def _refuse_same(src: Path, dst: Path) -> None:
    s, d = src.resolve(), dst.resolve()
    if s == d or (dst.exists() and os.path.samefile(src, dst)):
        raise DeidError("refusing to write the de-identified copy over its input")
    if s.is_dir() and (d == s or s in d.parents):
        raise DeidError("the output must not be inside the input folder")
    if d in s.parents:
        raise DeidError("the output must not contain the input")
    if not d.parent.is_dir():
        raise DeidError(f"output folder does not exist: {d.parent}")


@contextmanager
def _temp_sibling(dst: Path, *, directory: bool) -> Iterator[Path]:
    """A hidden temporary path next to `dst` (same suffix, for OpenSlide), removed unless consumed."""
    tmp = dst.parent / f".{dst.stem}.deid-{uuid.uuid4().hex[:12]}{dst.suffix}"
    if directory:
        tmp.mkdir()
    try:
        yield tmp
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def _tiff_metadata_text(path: Path) -> list[str]:
    """Every text-like tag value in the output, for the needle search."""
    with path.open("rb") as f:
        layout = parse(f)
    return [
        e.value.decode("latin-1")
        for ifd in layout.ifds
        for e in ifd.entries.values()
        if e.type in (1, 2, 6, 7)
    ]


def deidentify(src: Path, dst: Path, *, pseudonym: str) -> Certificate:
    """De-identify `src` into `dst` (written atomically), verify it, and return the certificate."""
    src, dst = Path(src), Path(dst)
    if not PSEUDONYM.match(pseudonym):
        raise DeidError("pseudonym must be 1-64 characters of letters, digits, '.', '_' or '-'")
    fmt = detect_format(src)
    if fmt == "dicom" and not src.is_dir():
        src = src.parent  # a .dcm file stands for its series folder
    _refuse_same(src, dst)
    if fmt == "dicom":
        return _deidentify_dicom(src, dst, pseudonym)
    if fmt == "mrxs":
        return mrxs.deidentify_mrxs(src, dst, pseudonym=pseudonym)
    if dst.suffix.lower() != src.suffix.lower():
        raise DeidError(f"output must keep the input's extension ({src.suffix})")
    if dst.is_dir():
        raise DeidError("output path is a folder")

    sha_before = sha256_path(src)
    with _temp_sibling(dst, directory=False) as tmp:
        shutil.copyfile(src, tmp)
        result = deidentify_tiff(tmp, VENDOR_OF[fmt])
        needles = set(result.needles)
        if len(src.stem) >= MIN_NAME_NEEDLE:
            needles.add(src.stem)
        needles.discard(pseudonym)
        checks = verify_slide(src, tmp, needles=needles, metadata_text=_tiff_metadata_text(tmp))
        checks.append(scan_raw([tmp], needles))
        ensure_verified(checks)
        cert = Certificate(
            format=fmt,
            pseudonym=pseudonym,
            sha256_before=sha_before,
            sha256_after=sha256_path(tmp),
            removed=result.removed,
            verified=True,
            checks=checks,
        )
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
    return cert


def _deidentify_dicom(src_dir: Path, dst: Path, pseudonym: str) -> Certificate:
    if dst.exists():
        raise DeidError("output folder already exists; DICOM output must be a new folder")
    sha_before = sha256_path(src_dir)
    with _temp_sibling(dst, directory=True) as tmp:
        result = dicom.deidentify_series(src_dir, tmp, pseudonym=pseudonym)
        needles = set(result.needles)
        if len(src_dir.name) >= MIN_NAME_NEEDLE:
            needles.add(src_dir.name)
        needles.discard(pseudonym)
        checks = verify_slide(
            result.source_volume, result.output_volume, needles=needles, metadata_text=dicom.metadata_text(tmp)
        )
        checks.append(scan_raw(sorted(tmp.iterdir()), needles))
        ensure_verified(checks)
        cert = Certificate(
            format="dicom",
            pseudonym=pseudonym,
            sha256_before=sha_before,
            sha256_after=sha256_path(tmp),
            removed=result.removed,
            verified=True,
            checks=checks,
        )
        os.replace(tmp, dst)
        fsync_dir(dst.parent)
    return cert
