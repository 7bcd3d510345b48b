"""Where slide bytes live, and how they get there without ever leaving a half-written or orphaned file.

Layout under the storage root (one filesystem, so every move is an atomic rename):
    slides/<institution_id>/<slide_uuid>/...   stored slides (one folder per slide)
    uploads/<upload_id>                        bytes of an unfinished tus upload
    tmp/<random>/                              staging for ingest; removed on success and on failure
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.config import get_settings

CHUNK = 1 << 20


def storage_root() -> Path:
    return get_settings().storage


def slides_dir() -> Path:
    return storage_root() / "slides"


def uploads_dir() -> Path:
    d = storage_root() / "uploads"
    d.mkdir(parents=True, exist_ok=True)
    return d


def tmp_dir() -> Path:
    d = storage_root() / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


def new_staging_dir() -> Path:
    """A fresh private folder under tmp/ (same filesystem as slides/, so publishing is a rename)."""
    d = tmp_dir() / uuid.uuid4().hex
    d.mkdir()
    return d


def resolve(rel: str) -> Path:
    """Absolute path of a storage-relative path; refuses anything that escapes the storage root."""
    root = storage_root()
    p = (root / rel).resolve()
    if p != root and root not in p.parents:
        raise ValueError(f"path escapes the storage root: {rel!r}")
    return p


def relative(p: Path) -> str:
    return p.resolve().relative_to(storage_root()).as_posix()


def remove_path(p: Path) -> None:
    """Best-effort removal of a file or folder (cleanup must never mask the original error)."""
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    except OSError:
        pass


def fsync_dir(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(staged: Path, dest: Path) -> None:
    """Atomically move a fully prepared staging folder to its final place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, dest)
    fsync_dir(dest.parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(root: Path) -> str:
    """SHA-256 of a folder: sorted `relative-path NUL sha256` lines (same scheme as app.deid)."""
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(root).as_posix()}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()


def tree_size(root: Path) -> int:
    if root.is_file():
        return root.stat().st_size
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# -- tie file moves to the fate of the database transaction ----------------------------------------
_ROLLBACK = "glomcheck_on_rollback"
_COMMIT = "glomcheck_on_commit"


def _hooks(session: Session) -> None:
    if session.info.get("glomcheck_storage_hooks"):
        return
    session.info["glomcheck_storage_hooks"] = True

    @event.listens_for(session, "after_commit")
    def _committed(s: Session) -> None:
        fns = s.info.pop(_COMMIT, [])
        s.info.pop(_ROLLBACK, None)
        for fn in fns:
            try:
                fn()
            except Exception:  # noqa: BLE001 - a failed cleanup must not turn a commit into an error
                pass

    @event.listens_for(session, "after_rollback")
    def _rolled_back(s: Session) -> None:
        fns = s.info.pop(_ROLLBACK, [])
        s.info.pop(_COMMIT, None)
        for fn in fns:
            try:
                fn()
            except Exception:  # noqa: BLE001
                pass


def on_rollback(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` if the session's transaction rolls back (e.g. remove a file published before commit)."""
    _hooks(session)
    session.info.setdefault(_ROLLBACK, []).append(fn)


def on_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run `fn` once the session's transaction has committed (e.g. delete a removed slide's files)."""
    _hooks(session)
    session.info.setdefault(_COMMIT, []).append(fn)
