"""Small builders for per-glomerulus records, shared by the assessment and discrepancy tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.assessment import (
    Assessment,
    AssessmentConfig,
    Finding,
    GlomerulusRecord,
    Scheme,
    Thresholds,
    assess_case,
)

TH = Thresholds(t_lo=0.3, t_hi=0.7)
THRESHOLDS: dict[str, Thresholds] = {f.value: TH for f in Finding}
PRESENT, INDETERMINATE, ABSENT = 0.95, 0.5, 0.05


class Builder:
    """Appends glomeruli with consecutive ids; every finding not named is clearly absent."""

    def __init__(self) -> None:
        self.records: list[GlomerulusRecord] = []

    def add(
        self,
        present: Iterable[Finding] = (),
        indeterminate: Iterable[Finding] = (),
        flags: Sequence[str] = (),
        n: int = 1,
    ) -> Builder:
        for _ in range(n):
            probs = {f.value: ABSENT for f in Finding}
            probs.update({f.value: INDETERMINATE for f in indeterminate})
            probs.update({f.value: PRESENT for f in present})
            self.records.append(GlomerulusRecord(id=len(self.records) + 1, probabilities=probs, flags=list(flags)))
        return self

    def normal(self, n: int = 1) -> Builder:
        return self.add(n=n)

    def lesion(self, *findings: Finding, n: int = 1) -> Builder:
        return self.add(present=findings, n=n)

    def unsure(self, *findings: Finding, n: int = 1) -> Builder:
        return self.add(indeterminate=findings or (Finding.segmental_sclerosis,), n=n)

    def cut(self, n: int = 1) -> Builder:
        return self.add(flags=("edge_cut",), n=n)

    def assess(
        self,
        config: AssessmentConfig | None = None,
        report_T: int | None = None,
        thresholds: dict[str, Thresholds] | None = None,
    ) -> dict[Scheme, Assessment]:
        return assess_case(self.records, config or AssessmentConfig(), thresholds or THRESHOLDS, report_T)


def case(normal: int = 0, **lesions: int) -> Builder:
    """``case(6, global_sclerosis=4)``: 6 normal glomeruli and 4 with one finding each."""
    b = Builder().normal(normal)
    for key, count in lesions.items():
        b.lesion(Finding(key), n=count)
    return b
