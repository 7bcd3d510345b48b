"""MIRAX (.mrxs) de-identification: not implemented yet (see issue 6)."""

from __future__ import annotations

from pathlib import Path

from app.deid.certificate import Certificate
from app.deid.errors import DeidError


def deidentify_mrxs(src: Path, dst: Path, *, pseudonym: str) -> Certificate:
    """Refuse clearly rather than store an MRXS whose label may survive."""
    raise DeidError("MRXS de-identification is not supported yet")
