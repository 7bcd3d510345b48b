"""Controlled values stored as strings (portable across PostgreSQL and SQLite, easy to extend)."""

from enum import StrEnum


class Role(StrEnum):
    pathologist = "pathologist"
    admin = "admin"  # site admin: manages one institution
    network_admin = "network_admin"  # research network admin: reads across institutions


class CaseState(StrEnum):
    """DOMAIN.md §1."""

    uploaded = "uploaded"
    deidentified = "deidentified"
    analyzing = "analyzing"
    ai_ready = "ai_ready"
    report_signed = "report_signed"
    compared = "compared"
    concordant = "concordant"
    discrepant = "discrepant"
    second_read = "second_read"
    resolved = "resolved"


class SlideStatus(StrEnum):
    ready = "ready"
    failed = "failed"


class Stain(StrEnum):
    pas = "pas"
    pam = "pam"
    mt = "mt"
    he = "he"
    azan = "azan"
    other = "other"


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.succeeded, JobState.failed, JobState.cancelled)


class GlomerulusStatus(StrEnum):
    normal = "normal"
    abnormal = "abnormal"
    indeterminate = "indeterminate"
    not_assessable = "not_assessable"


class TokenKind(StrEnum):
    session = "session"
    api = "api"
