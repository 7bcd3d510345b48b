"""Pure, versioned case-level assessment rules (DOMAIN.md §2–§3); no database, no HTTP."""

from app.assessment.adequacy import adequacy_category
from app.assessment.config import AssessmentConfig
from app.assessment.engine import assess_case, case_view, evidence_by_finding
from app.assessment.findings import (
    LABELS,
    ONTOLOGY_VERSION,
    Finding,
    FindingState,
    GlomerulusStatus,
    Thresholds,
    finding_state,
    finding_states,
    glomerulus_status,
)
from app.assessment.schemas import (
    RULES_VERSION,
    AdequacyCheck,
    Assessment,
    Computable,
    GlomerulusRecord,
    Inputs,
    Scheme,
)

__all__ = [
    "LABELS",
    "ONTOLOGY_VERSION",
    "RULES_VERSION",
    "AdequacyCheck",
    "Assessment",
    "AssessmentConfig",
    "Computable",
    "Finding",
    "FindingState",
    "GlomerulusRecord",
    "GlomerulusStatus",
    "Inputs",
    "Scheme",
    "Thresholds",
    "adequacy_category",
    "assess_case",
    "case_view",
    "evidence_by_finding",
    "finding_state",
    "finding_states",
    "glomerulus_status",
]
