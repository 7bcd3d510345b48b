"""Table-driven tests of the DOMAIN.md §5 comparison rules."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.assessment import Assessment, AssessmentConfig, Finding, Scheme, case_view, evidence_by_finding
from app.discrepancies import Discrepancy, ReportValues, Severity, compare, report_from_ai
from tests.assessment.factories import THRESHOLDS, Builder, case

F = Finding
RELIABLE = {f.value: True for f in Finding}


def run(
    b: Builder, reliability: dict[str, bool] | None = None, **changes: Any
) -> tuple[list[Discrepancy], dict[Scheme, Assessment]]:
    """Compare the AI with a report that agrees with it except for ``changes``."""
    ai = b.assess()
    evidence = evidence_by_finding(case_view(b.records, THRESHOLDS, AssessmentConfig()))
    report = report_from_ai(ai).model_copy(update=changes)
    return compare(ReportValues.model_validate(report.model_dump()), ai, evidence, reliability or RELIABLE), ai


def only(found: list[Discrepancy]) -> Discrepancy:
    assert len(found) == 1, found
    return found[0]


# A busy adequate IgA case: 20 glomeruli, M1 E1 S1 C1, H-Grade I (GLPS 4/20 = 20 %).
def iga() -> Builder:
    return (
        case(4, mesangial_hypercellularity=11)
        .lesion(F.endocapillary_hypercellularity, F.mesangial_hypercellularity)
        .lesion(F.segmental_sclerosis, n=2)
        .lesion(F.cellular_crescent)
        .lesion(F.global_sclerosis)
    )


def test_report_equal_to_ai_yields_nothing() -> None:
    found, ai = run(iga())
    assert found == []
    assert ai[Scheme.oxford_mestc].value == {"M": 1, "E": 1, "S": 1, "T": None, "C": 1}


@pytest.mark.parametrize(
    ("changes", "field", "ai_value"),
    [
        ({"M": 0}, "M", 1),
        ({"E": 0}, "E", 1),
        ({"S": 0}, "S", 1),
        ({"C": 2}, "C", 1),
        ({"h_grade": "III"}, "h_grade", "I"),
    ],
)
def test_categorical_differences_are_major(changes: dict[str, Any], field: str, ai_value: object) -> None:
    d = only(run(iga(), **changes)[0])
    assert (d.field, d.severity, d.ai_value, d.reliability_gated) == (field, Severity.major, ai_value, False)
    assert d.pathologist_value == changes[field]
    assert d.evidence_glomerulus_ids  # the glomeruli behind the AI value


def test_evidence_ids_are_the_glomeruli_with_the_finding() -> None:
    d = only(run(iga(), S=0)[0])
    assert d.evidence_glomerulus_ids == [17, 18]


@pytest.mark.parametrize(
    ("finding", "field"),
    [
        (F.cellular_crescent, "n_cellular_crescent"),
        (F.fibrocellular_crescent, "n_fibrocellular_crescent"),
        (F.fibrous_crescent, "n_fibrous_crescent"),
        (F.fibrinoid_necrosis, "n_fibrinoid_necrosis"),
    ],
)
def test_unmentioned_crescent_or_necrosis_is_major(finding: Finding, field: str) -> None:
    b = case(11).lesion(finding)
    found, _ = run(b, **{field: 0, "C": 0, "h_grade": "I"})
    d = next(x for x in found if x.field == field)
    assert (d.severity, d.ai_value, d.pathologist_value) == (Severity.major, 1, 0)
    assert d.evidence_glomerulus_ids == [12]


def test_not_assessed_fields_raise_nothing() -> None:
    b = case(11).lesion(F.fibrinoid_necrosis).lesion(F.cellular_crescent)
    nothing = {name: None for name in ReportValues.model_fields if name != "n_glomeruli"}
    assert run(b, **nothing)[0] == []


@pytest.mark.parametrize(
    ("ai_count", "report_count", "severity"),
    [
        (10, 12, None),  # differs by 2 = max(2, 20 % of 12): agreement
        (10, 13, Severity.minor),  # 3 > max(2, 2.6)
        (20, 24, None),  # 4 ≤ 4.8
        (20, 25, None),  # 5 = 20 % of 25: still agreement
        (20, 26, Severity.minor),  # 6 > 5.2
        (3, 6, Severity.minor),  # 3 > max(2, 1.2)
        (6, 3, Severity.minor),
        (1, 3, None),
    ],
)
def test_count_tolerance_max_2_or_20_percent(ai_count: int, report_count: int, severity: Severity | None) -> None:
    b = case(30 - ai_count, global_sclerosis=ai_count)
    found = [d for d in run(b, n_global_sclerosis=report_count)[0] if d.field == "n_global_sclerosis"]
    assert [d.severity for d in found] == ([] if severity is None else [severity])


def test_glomerulus_count_difference_is_minor_when_categories_agree() -> None:
    d = only(run(case(20), n_glomeruli=14)[0])
    assert (d.field, d.severity, d.ai_value, d.pathologist_value) == ("n_glomeruli", Severity.minor, 20, 14)
    assert d.reason_data == {"code": "count_beyond", "ai": 20, "report": 14, "finding": None, "tolerance": 4.0,
                             "qualifier": None}


def test_every_reason_has_a_code_the_ui_can_phrase() -> None:
    """The Japanese UI phrases reasons from reason_data; a discrepancy without a known code would stay English."""
    b = case(6, cellular_crescent=2, mesangial_hypercellularity=4)
    found, _ = run(b, n_glomeruli=12, n_cellular_crescent=0, M=0, C=0)
    assert found
    for d in found:
        assert d.reason_data["code"] in {"adequacy", "categorical", "count_none", "count_beyond"}, d
        assert d.reason_data["qualifier"] in {None, "gated", "indeterminate"}


@pytest.mark.parametrize(
    ("ai_n", "report_n", "ai_cat", "report_cat"),
    [(10, 9, "adequate", "minimal"), (7, 6, "minimal", "inadequate"), (6, 10, "inadequate", "adequate")],
)
def test_adequacy_category_difference_is_major(ai_n: int, report_n: int, ai_cat: str, report_cat: str) -> None:
    d = only(run(case(ai_n), n_glomeruli=report_n)[0])
    assert (d.field, d.severity, d.ai_value, d.pathologist_value) == ("adequacy", Severity.major, ai_cat, report_cat)


def test_inadequate_biopsy_raises_only_the_adequacy_discrepancy() -> None:
    b = case(2, cellular_crescent=2, fibrinoid_necrosis=2)  # AI: 6 glomeruli, inadequate
    found, _ = run(b, n_glomeruli=12, n_cellular_crescent=0, n_fibrinoid_necrosis=0, M=1, C=0, berden="focal")
    d = only(found)
    assert (d.field, d.ai_value, d.pathologist_value) == ("adequacy", "inadequate", "adequate")


def test_inadequate_on_both_sides_raises_nothing() -> None:
    b = case(2, cellular_crescent=2, fibrinoid_necrosis=2)
    assert run(b, n_glomeruli=5, n_cellular_crescent=0, n_fibrinoid_necrosis=0)[0] == []


def test_difference_resting_on_indeterminate_glomeruli_is_info() -> None:
    b = case(6, mesangial_hypercellularity=4).unsure(F.mesangial_hypercellularity, n=2)  # 4/12 M0, 6/12 still M0
    b.unsure(F.mesangial_hypercellularity)  # 7/13 if resolved present → M1
    d = only(run(b, M=1)[0])
    assert (d.field, d.severity, d.reliability_gated) == ("M", Severity.info, False)
    assert "indeterminate" in d.reason
    assert d.reason_data == {"code": "categorical", "field": "M", "ai": 0, "report": 1,
                             "findings": ["mesangial_hypercellularity"], "qualifier": "indeterminate"}


def test_count_difference_resting_on_indeterminate_glomeruli_is_info() -> None:
    b = case(10, global_sclerosis=2).unsure(F.global_sclerosis, n=4)
    d = only(run(b, n_global_sclerosis=6)[0])
    assert (d.field, d.severity, d.ai_value, d.pathologist_value) == ("n_global_sclerosis", Severity.info, 2, 6)


def test_count_difference_beyond_indeterminate_glomeruli_stays_minor() -> None:
    b = case(10, global_sclerosis=2).unsure(F.global_sclerosis, n=1)
    d = only(run(b, n_global_sclerosis=8)[0])
    assert d.severity is Severity.minor


@pytest.mark.parametrize(
    ("changes", "unreliable", "field"),
    [
        ({"M": 0}, ["mesangial_hypercellularity"], "M"),
        ({"n_cellular_crescent": 0, "C": 0}, ["cellular_crescent", "fibrocellular_crescent"], "C"),
    ],
)
def test_findings_below_reliability_minimum_never_alert(
    changes: dict[str, Any], unreliable: list[str], field: str
) -> None:
    reliability = {**RELIABLE, **{k: False for k in unreliable}}
    found, _ = run(iga(), reliability, **changes)
    assert found and all(d.severity is Severity.info and d.reliability_gated for d in found)
    assert field in {d.field for d in found}


def test_unknown_reliability_counts_as_below_minimum() -> None:
    found, _ = run(iga(), {"global_sclerosis": True}, M=0)
    assert only(found).severity is Severity.info


def test_composite_score_with_a_reliable_finding_still_alerts() -> None:
    reliability = {**RELIABLE, "cellular_crescent": False}
    d = only(run(iga(), reliability, h_grade="III")[0])
    assert (d.severity, d.reliability_gated) == (Severity.major, False)


@pytest.mark.parametrize(
    ("report_class", "expected"),
    [("IV", Severity.major), ("IV+V", Severity.major), ("III", None), ("III+V", None), ("V", None), ("II", None)],
)
def test_lupus_iii_vs_iv(report_class: str, expected: Severity | None) -> None:
    b = case(8, endocapillary_hypercellularity=4)  # AI: 33 % active → III
    found = [d for d in run(b, ln_class=report_class)[0] if d.field == "ln_class"]
    assert [d.severity for d in found] == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("builder", "report_class", "expected"),
    [
        (case(9, nodular_sclerosis=1), "IV", Severity.major),  # AI III
        (case(9, nodular_sclerosis=1), "IIb", None),  # only class IV is compared
        (case(4, global_sclerosis=6), "III", Severity.major),  # AI IV
        (case(10), "IV", Severity.major),  # AI: no class, but certainly not IV
        (case(10), "IIa", None),
    ],
)
def test_diabetic_class_iv(builder: Builder, report_class: str, expected: Severity | None) -> None:
    found = [d for d in run(builder, dn_class=report_class)[0] if d.field == "dn_class"]
    assert [d.severity for d in found] == ([] if expected is None else [expected])


def test_berden_difference_is_major() -> None:
    d = only(run(case(6, global_sclerosis=4), berden="sclerotic")[0])
    assert (d.field, d.severity, d.ai_value, d.pathologist_value) == ("berden", Severity.major, "focal", "sclerotic")


def test_scores_below_their_minimum_are_not_compared() -> None:
    b = case(7, endocapillary_hypercellularity=1)  # 8 → MEST-C computable; 7 assessable + 2 cut → not
    b.cut(2)
    b.records.pop(7)
    assert run(b, E=0, berden="mixed")[0] == []


@pytest.mark.parametrize(
    "values",
    [
        {"n_glomeruli": 5, "n_global_sclerosis": 6},
        {"n_glomeruli": 5, "n_global_sclerosis": 3, "n_segmental_sclerosis": 3},
        {"n_glomeruli": -1},
        {"M": 2},
        {"ln_class": "VII"},
        {"dn_class": "II"},
        {"berden": "diffuse"},
        {"unknown_field": 1},
    ],
)
def test_report_values_reject_impossible_input(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReportValues.model_validate(values)
