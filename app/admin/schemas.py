"""Admin shapes: discrepancy list, agreement statistics, audit log, users, institutions, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DiscrepancyRow(BaseModel):
    id: int
    created_at: datetime
    institution_id: int
    case_id: int
    case_number: str
    pathologist_id: int
    pathologist_email: str
    field: str
    finding: str | None
    severity: str
    ai_value: Any
    pathologist_value: Any
    reliable: bool
    evidence_glomerulus_ids: list[int]
    alert_id: int | None
    state: str  # alert state (open | acknowledged | resolved) or "none" when no alert was raised
    resolution_reason: str | None
    is_current: bool


class DiscrepancyPage(BaseModel):
    items: list[DiscrepancyRow]
    total: int


class ScoreAgreement(BaseModel):
    score: str  # adequacy | M | E | S | C | h_grade | berden | ln_class | dn_class
    n: int
    percent_agreement: float | None
    percent_ci: tuple[float, float] | None
    kappa: float | None  # None when undefined (both raters used a single identical label)
    kappa_ci: tuple[float, float] | None
    labels: list[str]
    matrix: list[list[int]]  # rows: first rater (AI / pathologist), columns: second (pathologist / second reader)


class MonthTrend(BaseModel):
    month: str  # YYYY-MM
    comparisons: int
    discrepant: int
    major: int
    minor: int
    info: int
    percent_agreement: dict[str, float | None]  # per score, AI vs pathologist


class AgreementStats(BaseModel):
    since: datetime | None
    until: datetime | None
    institution_ids: list[int] | None
    comparisons: int
    ai_vs_pathologist: list[ScoreAgreement]
    pathologist_vs_second_reader: list[ScoreAgreement]
    monthly: list[MonthTrend]


class AuditRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: datetime
    institution_id: int | None
    actor_user_id: int | None
    action: str
    object_type: str | None
    object_id: str | None
    details: dict[str, Any]
    hash: str


class ChainStatus(BaseModel):
    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str | None
    full_walk_at: datetime | None = None  # every event re-hashed then; newer events are checked on each view


class AuditPage(BaseModel):
    items: list[AuditRow]
    total: int
    chain: ChainStatus


class AdminUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    institution_id: int
    email: str
    display_name: str
    role: str
    is_active: bool
    locale: str
    created_at: datetime


class AdminUserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str
    password: str = Field(min_length=8)
    display_name: str | None = None
    role: str = "pathologist"  # pathologist | admin | network_admin (network admins only)
    institution_id: int | None = None  # default: the admin's own


class AdminUserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = None
    role: str | None = None
    is_active: bool | None = None
    locale: str | None = Field(default=None, pattern="^(en|ja)$")


class InstitutionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    created_at: datetime


class InstitutionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)


class SettingsIn(BaseModel):
    """``assessment`` replaces the institution's threshold overrides (keys of AssessmentConfig)."""

    model_config = ConfigDict(extra="forbid")

    blinded_first_read: bool | None = None
    assessment: dict[str, Any] | None = None


class SettingsOut(BaseModel):
    institution_id: int
    blinded_first_read: bool
    overrides: dict[str, Any]
    effective: dict[str, Any]
    recomputed_case_ids: list[int] = Field(default_factory=list)
