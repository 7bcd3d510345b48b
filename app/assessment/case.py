"""Classified glomeruli of one case and the helpers every scheme shares.

Percentage thresholds are compared in integers (``count × 100`` against ``pct × N``) so that an edge
such as exactly 25 % or exactly 50 % is decided exactly, never by floating-point rounding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from app.assessment.config import AssessmentConfig
from app.assessment.findings import (
    Finding,
    FindingState,
    GlomerulusStatus,
    Thresholds,
    finding_states,
    glomerulus_status,
    reconcile,
    status_from_states,
)
from app.assessment.schemas import (
    AdequacyCheck,
    Assessment,
    Computable,
    GlomerulusRecord,
    Inputs,
    Scheme,
    Value,
)


@dataclass(frozen=True)
class ClassifiedGlomerulus:
    id: int
    status: GlomerulusStatus
    states: Mapping[Finding, FindingState]

    @property
    def assessable(self) -> bool:
        return self.status is not GlomerulusStatus.not_assessable


def classify(
    glomeruli: Iterable[GlomerulusRecord],
    thresholds: Mapping[str, Thresholds],
    config: AssessmentConfig,
) -> list[ClassifiedGlomerulus]:
    """Apply the model-card thresholds and detector flags to every glomerulus."""
    out: list[ClassifiedGlomerulus] = []
    for g in glomeruli:
        status = glomerulus_status(
            g.probabilities, thresholds, g.flags, not_assessable_flags=config.not_assessable_flags
        )
        out.append(ClassifiedGlomerulus(g.id, status, finding_states(g.probabilities, thresholds)))
    return out


@dataclass(frozen=True)
class CaseView:
    """All glomeruli of the case's assessment stain, with counts restricted to assessable ones."""

    glomeruli: tuple[ClassifiedGlomerulus, ...]
    available: frozenset[Finding]

    @property
    def assessable(self) -> tuple[ClassifiedGlomerulus, ...]:
        return tuple(g for g in self.glomeruli if g.assessable)

    @property
    def n_glomeruli(self) -> int:
        return len(self.glomeruli)

    @property
    def n_assessable(self) -> int:
        return len(self.assessable)

    def n_status(self, status: GlomerulusStatus) -> int:
        return sum(1 for g in self.glomeruli if g.status is status)

    def count_any(self, *findings: Finding) -> int:
        """Assessable glomeruli with any of ``findings`` present (indeterminate ones never qualify)."""
        return sum(
            1 for g in self.assessable if any(g.states.get(f) is FindingState.present for f in findings)
        )

    def count_indeterminate(self, finding: Finding) -> int:
        return sum(1 for g in self.assessable if g.states.get(finding) is FindingState.indeterminate)

    def ids_present(self, finding: Finding) -> list[int]:
        return [g.id for g in self.assessable if g.states.get(finding) is FindingState.present]

    def resolved(self, to: FindingState) -> CaseView:
        """The case as it would be if every indeterminate finding were called ``to``."""
        out: list[ClassifiedGlomerulus] = []
        for g in self.glomeruli:
            if not g.assessable:
                out.append(g)
                continue
            states = reconcile({f: (to if s is FindingState.indeterminate else s) for f, s in g.states.items()})
            out.append(ClassifiedGlomerulus(g.id, status_from_states(states), states))
        return CaseView(tuple(out), self.available)

    def inputs(self) -> Inputs:
        return Inputs(
            n_glomeruli=self.n_glomeruli,
            n_assessable=self.n_assessable,
            counts_by_finding={f.value: self.count_any(f) for f in Finding if f in self.available},
            n_not_assessable=self.n_status(GlomerulusStatus.not_assessable),
            n_indeterminate=self.n_status(GlomerulusStatus.indeterminate),
            n_normal=self.n_status(GlomerulusStatus.normal),
            indeterminate_by_finding={
                f.value: self.count_indeterminate(f) for f in Finding if f in self.available
            },
        )


@dataclass(frozen=True)
class RuleContext:
    config: AssessmentConfig
    model_versions: tuple[str, ...] = ()
    report_T: int | None = None


def percent(count: int, n: int) -> float | None:
    """count / n × 100, or None when there is no denominator."""
    return None if n <= 0 else 100.0 * count / n


def at_least(count: int, n: int, pct: float) -> bool:
    """count / n ≥ pct %, decided exactly."""
    return count * 100 >= pct * n


def more_than(count: int, n: int, pct: float) -> bool:
    """count / n > pct %, decided exactly."""
    return count * 100 > pct * n


def missing_findings(case: CaseView, needed: Iterable[Finding]) -> list[str]:
    """Needed findings the model card does not cover, in ontology order."""
    wanted = set(needed)
    return [f.value for f in Finding if f in wanted and f not in case.available]


@dataclass(frozen=True)
class Draft:
    """What a scheme decided, before the shared envelope is added."""

    value: Value
    computable: Computable
    missing: list[str] = field(default_factory=list)


def build(scheme: Scheme, case: CaseView, ctx: RuleContext, minimum: int, draft: Draft) -> Assessment:
    """Wrap a scheme's decision in the DOMAIN.md §3 envelope."""
    return Assessment(
        scheme=scheme,
        value=draft.value,
        inputs=case.inputs(),
        adequacy=AdequacyCheck(threshold=minimum, met=case.n_assessable >= minimum),
        computable=draft.computable,
        missing=draft.missing,
        model_versions=list(ctx.model_versions),
    )


def below_minimum(case: CaseView, minimum: int) -> Draft | None:
    """The 'not computable' decision every score takes below its own minimum N."""
    if case.n_assessable >= minimum:
        return None
    return Draft(None, Computable.no, [f"n_assessable>={minimum}"])


def unique_ids(groups: Sequence[Sequence[int]]) -> list[int]:
    return sorted({i for g in groups for i in g})
