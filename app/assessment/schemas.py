"""The DOMAIN.md §3 assessment object and the per-glomerulus input record."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

RULES_VERSION = "1.1.0"  # 1.1.0: global sclerosis excludes segmental on one glomerulus
"""Bumped whenever any rule or default changes, so stored assessments say which rules made them."""

Scalar = str | bool | int | float | None
Value = Scalar | dict[str, Scalar]


class Scheme(StrEnum):
    adequacy = "adequacy"
    percent_global_sclerosis = "percent_global_sclerosis"
    oxford_mestc = "oxford_mestc"
    japanese_h_grade = "japanese_h_grade"
    berden = "berden"
    crescentic_pattern = "crescentic_pattern"
    lupus_nephritis = "lupus_nephritis"
    diabetic_nephropathy = "diabetic_nephropathy"


class Computable(StrEnum):
    full = "full"
    partial = "partial"
    no = "no"


class GlomerulusRecord(BaseModel):
    """One detected glomerulus as the rules see it; the caller picks the stain and deduplicates slides."""

    model_config = ConfigDict(frozen=True)

    id: int
    probabilities: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)


class Inputs(BaseModel):
    """What the value was computed from; the extra counts make indeterminate glomeruli visible."""

    model_config = ConfigDict(frozen=True)

    n_glomeruli: int
    n_assessable: int
    counts_by_finding: dict[str, int]
    n_not_assessable: int = 0
    n_indeterminate: int = 0
    n_normal: int = 0
    indeterminate_by_finding: dict[str, int] = Field(default_factory=dict)


class AdequacyCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    threshold: int
    met: bool


class Assessment(BaseModel):
    """DOMAIN.md §3 object.

    ``indeterminate_values`` (an extension) lists the other values the scheme would take if every
    indeterminate finding were called absent, or every one present; the comparison engine uses it
    to tell a real disagreement from one that rests only on indeterminate glomeruli.
    """

    model_config = ConfigDict(frozen=True)

    scheme: Scheme
    version: str = RULES_VERSION
    value: Value
    inputs: Inputs
    adequacy: AdequacyCheck
    computable: Computable
    missing: list[str] = Field(default_factory=list)
    model_versions: list[str] = Field(default_factory=list)
    indeterminate_values: list[Value] = Field(default_factory=list)
