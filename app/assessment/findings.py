"""Ontology v1 of per-glomerulus findings (DOMAIN.md §2) and the per-glomerulus decision rules.

Kept free of database imports on purpose: the same statuses are recomputed whenever thresholds
change, so they must be a pure function of (probabilities, thresholds, flags).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

ONTOLOGY_VERSION = "v1"


class Finding(StrEnum):
    """Finding keys as stored in ``glomeruli.findings`` and model cards."""

    global_sclerosis = "global_sclerosis"
    segmental_sclerosis = "segmental_sclerosis"
    cellular_crescent = "cellular_crescent"
    fibrocellular_crescent = "fibrocellular_crescent"
    fibrous_crescent = "fibrous_crescent"
    endocapillary_hypercellularity = "endocapillary_hypercellularity"
    mesangial_hypercellularity = "mesangial_hypercellularity"
    nodular_sclerosis = "nodular_sclerosis"
    fibrinoid_necrosis = "fibrinoid_necrosis"


@dataclass(frozen=True)
class FindingLabel:
    """Display names; the Japanese label is what the Japanese UI shows."""

    en: str
    ja: str


LABELS: Mapping[Finding, FindingLabel] = {
    Finding.global_sclerosis: FindingLabel("global sclerosis", "全節性硬化"),
    Finding.segmental_sclerosis: FindingLabel("segmental sclerosis or adhesion", "分節性硬化・癒着"),
    Finding.cellular_crescent: FindingLabel("cellular crescent", "細胞性半月体"),
    Finding.fibrocellular_crescent: FindingLabel("fibrocellular crescent", "線維細胞性半月体"),
    Finding.fibrous_crescent: FindingLabel("fibrous crescent", "線維性半月体"),
    Finding.endocapillary_hypercellularity: FindingLabel("endocapillary hypercellularity", "管内細胞増多"),
    Finding.mesangial_hypercellularity: FindingLabel("mesangial hypercellularity", "メサンギウム細胞増多"),
    Finding.nodular_sclerosis: FindingLabel("nodular (Kimmelstiel–Wilson) sclerosis", "結節性病変"),
    Finding.fibrinoid_necrosis: FindingLabel("fibrinoid necrosis", "フィブリノイド壊死"),
}

CRESCENTS: frozenset[Finding] = frozenset(
    {Finding.cellular_crescent, Finding.fibrocellular_crescent, Finding.fibrous_crescent}
)

# Flags the pipeline sets on glomeruli that count for adequacy only (cut by the section edge, out of
# focus, bordered by marker ink).
DEFAULT_NOT_ASSESSABLE_FLAGS: frozenset[str] = frozenset({"edge_cut", "out_of_focus", "ink", "not_assessable"})


class FindingState(StrEnum):
    present = "present"
    absent = "absent"
    indeterminate = "indeterminate"


class GlomerulusStatus(StrEnum):
    """Same values as ``app.db.models.enums.GlomerulusStatus``; redeclared to keep this module DB-free."""

    normal = "normal"
    abnormal = "abnormal"
    indeterminate = "indeterminate"
    not_assessable = "not_assessable"


@dataclass(frozen=True)
class Thresholds:
    """Model-card thresholds of one finding: present if p ≥ t_hi, absent if p < t_lo, else indeterminate."""

    t_lo: float
    t_hi: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.t_lo <= self.t_hi <= 1.0):
            raise ValueError(f"thresholds need 0 <= t_lo <= t_hi <= 1, got t_lo={self.t_lo}, t_hi={self.t_hi}")


def finding_state(p: float, thresholds: Thresholds) -> FindingState:
    """Three-way call of one probability; the band [t_lo, t_hi) is deliberately left undecided."""
    if p >= thresholds.t_hi:
        return FindingState.present
    if p < thresholds.t_lo:
        return FindingState.absent
    return FindingState.indeterminate


def finding_states(
    probs: Mapping[str, float], thresholds: Mapping[str, Thresholds]
) -> dict[Finding, FindingState]:
    """States of every finding the model card covers.

    Findings without thresholds are not evaluated (the schemes that need them report them as
    missing); a covered finding without a probability is indeterminate rather than guessed absent.
    """
    states: dict[Finding, FindingState] = {}
    for key, th in thresholds.items():
        finding = Finding(key)
        p = probs.get(finding.value)
        states[finding] = FindingState.indeterminate if p is None else finding_state(p, th)
    return reconcile(states)


def reconcile(states: Mapping[Finding, FindingState]) -> dict[Finding, FindingState]:
    """Findings that exclude each other: a globally sclerosed tuft is not also segmentally sclerosed.

    The classifier's sigmoids are independent, so both can exceed their thresholds on one glomerulus;
    counting it twice would make n_global + n_segmental exceed N (a report repeating the AI would be
    invalid) and Oxford S scores segmental lesions in non-globally-sclerosed glomeruli only.
    """
    out = dict(states)
    if out.get(Finding.global_sclerosis) is FindingState.present and Finding.segmental_sclerosis in out:
        out[Finding.segmental_sclerosis] = FindingState.absent
    return out


def status_from_states(states: Mapping[Finding, FindingState]) -> GlomerulusStatus:
    """Normal only if every finding is absent; any present finding makes it abnormal."""
    values = set(states.values())
    if FindingState.present in values:
        return GlomerulusStatus.abnormal
    if FindingState.indeterminate in values:
        return GlomerulusStatus.indeterminate
    return GlomerulusStatus.normal


def glomerulus_status(
    probs: Mapping[str, float],
    thresholds: Mapping[str, Thresholds],
    flags: Iterable[str],
    *,
    not_assessable_flags: frozenset[str] = DEFAULT_NOT_ASSESSABLE_FLAGS,
) -> GlomerulusStatus:
    """Status of one glomerulus; detector flags (edge cut, out of focus) win over any probability."""
    if not_assessable_flags.intersection(flags):
        return GlomerulusStatus.not_assessable
    return status_from_states(finding_states(probs, thresholds))
