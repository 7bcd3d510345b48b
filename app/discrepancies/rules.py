"""Comparison of a signed structured report with the AI assessment (DOMAIN.md §4–§5); pure.

Severity rules, in the order they are applied to every field on which both sides gave a value:

* an inadequate biopsy (by the AI's or the pathologist's count) is compared on adequacy only;
* the difference is **info** when it rests only on indeterminate glomeruli (the pathologist's value
  is one the AI would give if its indeterminate findings were resolved) or only on findings below the
  reliability minimum — shown, but never an alert;
* otherwise a categorical difference (adequacy, M, E, S, C, H-Grade, Berden, LN III vs IV, DN class
  IV) is **major**, as is a crescent or necrosis the AI finds and the report counts as zero;
* otherwise a count difference larger than max(2, 20 % of the larger count) is **minor**.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.assessment import oxford
from app.assessment.adequacy import adequacy_category
from app.assessment.config import AssessmentConfig
from app.assessment.findings import CRESCENTS, LABELS, Finding
from app.assessment.h_grade import ACUTE, CHRONIC
from app.assessment.lupus import ACTIVE as LUPUS_ACTIVE
from app.assessment.schemas import Assessment, Computable, Inputs, Scalar, Scheme, Value

Count = Annotated[int, Field(ge=0)]


class Severity(StrEnum):
    major = "major"
    minor = "minor"
    info = "info"


class ReportValues(BaseModel):
    """The comparable fields of a structured report (DOMAIN.md §4); None means "not assessed"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_glomeruli: Count | None = None
    n_global_sclerosis: Count | None = None
    n_segmental_sclerosis: Count | None = None
    n_cellular_crescent: Count | None = None
    n_fibrocellular_crescent: Count | None = None
    n_fibrous_crescent: Count | None = None
    n_endocapillary_hypercellularity: Count | None = None
    n_fibrinoid_necrosis: Count | None = None
    M: Literal[0, 1] | None = None
    E: Literal[0, 1] | None = None
    S: Literal[0, 1] | None = None
    T: Literal[0, 1, 2] | None = None
    C: Literal[0, 1, 2] | None = None
    h_grade: Literal["I", "II", "III", "IV"] | None = None
    berden: Literal["focal", "crescentic", "mixed", "sclerotic"] | None = None
    ln_class: Literal["I", "II", "III", "IV", "V", "VI", "III+V", "IV+V"] | None = None
    dn_class: Literal["I", "IIa", "IIb", "III", "IV"] | None = None

    @model_validator(mode="after")
    def _counts_fit(self) -> Self:
        """A lesion count larger than the glomeruli counted is impossible, not a discrepancy."""
        if self.n_glomeruli is None:
            return self
        for name, finding in COUNT_FIELDS.items():
            value = getattr(self, name)
            if finding is not None and value is not None and value > self.n_glomeruli:
                raise ValueError(f"{name}={value} exceeds n_glomeruli={self.n_glomeruli}")
        if (self.n_global_sclerosis or 0) + (self.n_segmental_sclerosis or 0) > self.n_glomeruli:
            raise ValueError("globally plus segmentally sclerosed glomeruli exceed n_glomeruli")
        return self


class Discrepancy(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str
    ai_value: Scalar
    pathologist_value: Scalar
    severity: Severity
    evidence_glomerulus_ids: list[int]
    reason: str  # English sentence, kept for CSV exports and the audit trail
    reliability_gated: bool
    # The same reason as a code with parameters, so each UI language can phrase it:
    # {"code": "adequacy"|"categorical"|"count_none"|"count_beyond", ..., "qualifier": None|"gated"|"indeterminate"}
    reason_data: dict[str, Any] = {}


# Report count field → the finding it counts (None: all glomeruli).
COUNT_FIELDS: Mapping[str, Finding | None] = {
    "n_glomeruli": None,
    "n_global_sclerosis": Finding.global_sclerosis,
    "n_segmental_sclerosis": Finding.segmental_sclerosis,
    "n_cellular_crescent": Finding.cellular_crescent,
    "n_fibrocellular_crescent": Finding.fibrocellular_crescent,
    "n_fibrous_crescent": Finding.fibrous_crescent,
    "n_endocapillary_hypercellularity": Finding.endocapillary_hypercellularity,
    "n_fibrinoid_necrosis": Finding.fibrinoid_necrosis,
}
MUST_MENTION = CRESCENTS | {Finding.fibrinoid_necrosis}


def _key(name: str) -> Callable[[Value], Scalar]:
    def get(value: Value) -> Scalar:
        return value.get(name) if isinstance(value, dict) else None

    return get


def _whole(value: Value) -> Scalar:
    return None if isinstance(value, dict) else value


def _proliferative(value: Scalar) -> Scalar:
    """LN classes compared on the III/IV axis only; "IV+V" counts as IV."""
    if not isinstance(value, str):
        return None
    head = value.split("+")[0]
    return head if head in ("III", "IV") else None


def _is_iv(value: Scalar) -> Scalar:
    return value == "IV"


@dataclass(frozen=True)
class CategoricalField:
    field: str
    scheme: Scheme
    extract: Callable[[Value], Scalar]
    findings: tuple[Finding, ...]
    # Maps both sides to the axis DOMAIN.md compares on (LN: III vs IV; DN: IV or not).
    axis: Callable[[Scalar], Scalar] = lambda v: v


CATEGORICAL: tuple[CategoricalField, ...] = (
    *(
        CategoricalField(c, Scheme.oxford_mestc, _key(c), tuple(oxford.NEEDED[c]))
        for c in ("M", "E", "S", "C")
    ),
    CategoricalField("h_grade", Scheme.japanese_h_grade, _key("grade"), (*ACUTE, *CHRONIC)),
    CategoricalField("berden", Scheme.berden, _whole, tuple(Finding)),
    CategoricalField(
        "ln_class",
        Scheme.lupus_nephritis,
        _key("class"),
        (*LUPUS_ACTIVE, Finding.global_sclerosis),
        _proliferative,
    ),
    CategoricalField(
        "dn_class",
        Scheme.diabetic_nephropathy,
        _whole,
        (Finding.global_sclerosis, Finding.nodular_sclerosis),
        _is_iv,
    ),
)

def count_tolerance(a: int, b: int, config: AssessmentConfig) -> float:
    """Largest difference still counted as agreement: max(2, 20 % of the larger count)."""
    return max(config.minor_count_abs, config.minor_count_rel * max(a, b))


def _count_severity(
    ai: int, rep: int, finding: Finding | None, config: AssessmentConfig
) -> Severity | None:
    if finding in MUST_MENTION and ai >= 1 and rep == 0:
        return Severity.major
    if abs(ai - rep) > count_tolerance(ai, rep, config):
        return Severity.minor
    return None


def _evidence(findings: Sequence[Finding], evidence: Mapping[str, Sequence[int]]) -> list[int]:
    return sorted({i for f in findings for i in evidence.get(f.value, ())})


def _gated(findings: Sequence[Finding], reliability: Mapping[str, bool]) -> bool:
    """True when every finding behind the field is below the reliability minimum (unknown = below)."""
    return bool(findings) and not any(reliability.get(f.value, False) for f in findings)


def _label(findings: Sequence[Finding]) -> str:
    return ", ".join(LABELS[f].en for f in findings)


def _demote(
    severity: Severity, reason: str, data: dict[str, Any], *, on_indeterminate: bool, gated: bool
) -> tuple[Severity, str, dict[str, Any]]:
    if gated:
        return (Severity.info, reason + "; rests only on findings below the reliability minimum",
                {**data, "qualifier": "gated"})
    if on_indeterminate:
        return Severity.info, reason + "; rests only on indeterminate glomeruli", {**data, "qualifier": "indeterminate"}
    return severity, reason, {**data, "qualifier": None}


def _adequacy(
    report: ReportValues, ai: Mapping[Scheme, Assessment], config: AssessmentConfig
) -> tuple[list[Discrepancy], bool]:
    """The adequacy discrepancy, and whether the biopsy is inadequate on either side."""
    assessment = ai.get(Scheme.adequacy)
    ai_cat = assessment.value if assessment is not None else None
    rep_cat = None if report.n_glomeruli is None else adequacy_category(report.n_glomeruli, config)
    inadequate = "inadequate" in (ai_cat, rep_cat)
    if ai_cat is None or rep_cat is None or ai_cat == rep_cat or isinstance(ai_cat, dict):
        return [], inadequate
    return [
        Discrepancy(
            field="adequacy",
            ai_value=ai_cat,
            pathologist_value=rep_cat,
            severity=Severity.major,
            evidence_glomerulus_ids=[],
            reason=f"adequacy category: AI {ai_cat} vs report {rep_cat} "
            f"(thresholds {config.adequacy_minimal_n}/{config.adequacy_adequate_n} glomeruli)",
            reliability_gated=False,
            reason_data={"code": "adequacy", "ai": ai_cat, "report": rep_cat, "minimal_n": config.adequacy_minimal_n,
                         "adequate_n": config.adequacy_adequate_n, "qualifier": None},
        )
    ], inadequate


def _categorical(
    spec: CategoricalField,
    report: ReportValues,
    assessment: Assessment,
    evidence: Mapping[str, Sequence[int]],
    reliability: Mapping[str, bool],
) -> Discrepancy | None:
    rep_raw: Scalar = getattr(report, spec.field)
    if rep_raw is None:
        return None
    ai_raw = None if assessment.value is None else spec.extract(assessment.value)
    if spec.scheme is Scheme.diabetic_nephropathy:
        # No class from the AI still says "not IV" once N is met and global sclerosis was scored.
        scored = assessment.adequacy.met and Finding.global_sclerosis.value not in assessment.missing
        if ai_raw is None and not scored:
            return None
    elif ai_raw is None:
        return None
    ai_axis, rep_axis = spec.axis(ai_raw), spec.axis(rep_raw)
    if ai_axis is None or rep_axis is None or ai_axis == rep_axis:
        return None
    alternatives = {spec.axis(spec.extract(v)) for v in assessment.indeterminate_values}
    gated = _gated(spec.findings, reliability)
    severity, reason, data = _demote(
        Severity.major,
        f"{spec.field}: AI {ai_raw} vs report {rep_raw} (from {_label(spec.findings)})",
        {"code": "categorical", "field": spec.field, "ai": ai_raw, "report": rep_raw,
         "findings": [f.value for f in spec.findings]},
        on_indeterminate=rep_axis in alternatives,
        gated=gated,
    )
    return Discrepancy(
        field=spec.field,
        ai_value=ai_raw,
        pathologist_value=rep_raw,
        severity=severity,
        evidence_glomerulus_ids=_evidence(spec.findings, evidence),
        reason=reason,
        reliability_gated=gated,
        reason_data=data,
    )


def _count(
    name: str,
    finding: Finding | None,
    rep: int | None,
    inputs: Inputs,
    evidence: Mapping[str, Sequence[int]],
    reliability: Mapping[str, bool],
    config: AssessmentConfig,
) -> Discrepancy | None:
    if rep is None:
        return None
    if finding is None:
        ai, indeterminate = inputs.n_glomeruli, 0
    elif finding.value in inputs.counts_by_finding:
        ai = inputs.counts_by_finding[finding.value]
        indeterminate = inputs.indeterminate_by_finding.get(finding.value, 0)
    else:
        return None  # the model card does not cover this finding: nothing to compare
    severity = _count_severity(ai, rep, finding, config)
    if severity is None:
        return None
    # Closest count the AI could reach by calling its indeterminate glomeruli present.
    reachable = min(max(rep, ai), ai + indeterminate)
    findings = () if finding is None else (finding,)
    what = "glomeruli" if finding is None else LABELS[finding].en
    data: dict[str, Any] = {"ai": ai, "report": rep, "finding": None if finding is None else finding.value}
    if severity is Severity.major:
        reason = f"AI finds {ai} glomeruli with {what}; the report records none"
        data["code"] = "count_none"
    else:
        tol = count_tolerance(ai, rep, config)
        reason = f"{what}: AI {ai} vs report {rep} glomeruli, beyond ±{tol:g}"
        data.update(code="count_beyond", tolerance=tol)
    gated = _gated(findings, reliability)
    severity, reason, data = _demote(
        severity,
        reason,
        data,
        on_indeterminate=_count_severity(reachable, rep, finding, config) is None,
        gated=gated,
    )
    return Discrepancy(
        field=name,
        ai_value=ai,
        pathologist_value=rep,
        severity=severity,
        evidence_glomerulus_ids=_evidence(findings, evidence),
        reason=reason,
        reliability_gated=gated,
        reason_data=data,
    )


def compare(
    report: ReportValues,
    ai: Mapping[Scheme, Assessment],
    evidence: Mapping[str, Sequence[int]],
    reliability: Mapping[str, bool],
    *,
    config: AssessmentConfig | None = None,
) -> list[Discrepancy]:
    """Every field where the signed report and the AI differ, in a stable order.

    ``evidence`` maps a finding key to the ids of the glomeruli where the AI calls it present;
    ``reliability`` maps a finding key to whether it meets the institution's κ/AUC minimum (a finding
    missing from it is treated as below the minimum, so unknown reliability never raises an alert).

    A report field left "not assessed" (None) yields no discrepancy: the pathologist made no claim
    to contradict, the AI value is shown beside the report anyway, and alerting on omissions would
    turn every partial report into a second read. Schemes the AI could not compute are skipped too.
    """
    cfg = config or AssessmentConfig()
    out, inadequate = _adequacy(report, ai, cfg)
    if inadequate:
        return out  # DOMAIN.md §5: an inadequate biopsy raises no score discrepancy
    reference = ai.get(Scheme.adequacy) or next(iter(ai.values()), None)
    if reference is not None:
        for name, finding in COUNT_FIELDS.items():
            found = _count(name, finding, getattr(report, name), reference.inputs, evidence, reliability, cfg)
            if found is not None:
                out.append(found)
    for spec in CATEGORICAL:
        assessment = ai.get(spec.scheme)
        if assessment is None or (assessment.computable is Computable.no and spec.field != "dn_class"):
            continue
        found = _categorical(spec, report, assessment, evidence, reliability)
        if found is not None:
            out.append(found)
    return out


def report_from_ai(ai: Mapping[Scheme, Assessment]) -> ReportValues:
    """A report that says exactly what the AI says (self-check and tests; never shown before signing)."""
    inputs = (ai.get(Scheme.adequacy) or next(iter(ai.values()))).inputs
    values: dict[str, object] = {"n_glomeruli": inputs.n_glomeruli}
    for name, finding in COUNT_FIELDS.items():
        if finding is not None and finding.value in inputs.counts_by_finding:
            values[name] = inputs.counts_by_finding[finding.value]
    for spec in CATEGORICAL:
        assessment = ai.get(spec.scheme)
        if assessment is None or assessment.value is None:
            continue
        value = spec.extract(assessment.value)
        if value is not None:
            values[spec.field] = value
    mestc = ai.get(Scheme.oxford_mestc)
    if mestc is not None and isinstance(mestc.value, dict) and mestc.value.get("T") is not None:
        values["T"] = mestc.value["T"]
    return ReportValues.model_validate(values)
