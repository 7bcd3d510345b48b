"""The certificate that goes into the audit log: what was removed and what was checked.

It never contains the removed values themselves, only their names and sizes, so storing it does not
re-introduce the identifiers it certifies as gone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

RemovalKind = Literal["associated_image", "tag", "property", "dicom_attribute", "file"]


class Removal(BaseModel):
    kind: RemovalKind
    name: str
    detail: str = ""


class Check(BaseModel):
    name: str
    passed: bool
    detail: str = ""


class Certificate(BaseModel):
    format: str
    pseudonym: str
    sha256_before: str
    sha256_after: str
    removed: list[Removal] = Field(default_factory=list)
    verified: bool = False
    checks: list[Check] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    def summary(self) -> str:
        """Human-readable text for the CLI."""
        lines = [
            f"format:        {self.format}",
            f"pseudonym:     {self.pseudonym}",
            f"sha256 before: {self.sha256_before}",
            f"sha256 after:  {self.sha256_after}",
            f"verified:      {'yes' if self.verified else 'NO'}",
            f"removed ({len(self.removed)}):",
        ]
        lines += [f"  - {r.kind}: {r.name}" + (f" ({r.detail})" if r.detail else "") for r in self.removed]
        lines.append(f"checks ({len(self.checks)}):")
        lines += [
            f"  [{'ok' if c.passed else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "")
            for c in self.checks
        ]
        return "\n".join(lines)
