"""All ORM classes in one package so Alembic sees one metadata and imports never loop."""

from app.db.base import Base
from app.db.models.alert import Alert, Notification
from app.db.models.analysis import AnalysisJob, Glomerulus
from app.db.models.audit import AuditEvent
from app.db.models.case import Case
from app.db.models.clinical import ClinicalFollowup, ClinicalRecord
from app.db.models.enums import CaseState, GlomerulusStatus, JobState, Role, SlideStatus, Stain, TokenKind
from app.db.models.institution import Institution
from app.db.models.report import CaseAssessment, Comparison, Discrepancy, Report
from app.db.models.slide import Slide
from app.db.models.upload import Upload
from app.db.models.user import AuthToken, User

__all__ = [
    "Alert",
    "AnalysisJob",
    "AuditEvent",
    "AuthToken",
    "Base",
    "Case",
    "CaseAssessment",
    "CaseState",
    "ClinicalFollowup",
    "ClinicalRecord",
    "Comparison",
    "Discrepancy",
    "Glomerulus",
    "GlomerulusStatus",
    "Institution",
    "JobState",
    "Notification",
    "Report",
    "Role",
    "Slide",
    "SlideStatus",
    "Stain",
    "TokenKind",
    "Upload",
    "User",
]
