"""Table-driven tests at every threshold edge of DOMAIN.md §3."""

from __future__ import annotations

import pytest

from app.assessment import (
    RULES_VERSION,
    AssessmentConfig,
    Computable,
    Finding,
    Scheme,
    Thresholds,
    assess_case,
)
from app.assessment.lupus import nih_score
from tests.assessment.factories import THRESHOLDS, Builder, case

F = Finding
GS, SS = F.global_sclerosis, F.segmental_sclerosis
CC, FC, FIB = F.cellular_crescent, F.fibrocellular_crescent, F.fibrous_crescent
ENDO, MES, NOD, NEC = (
    F.endocapillary_hypercellularity,
    F.mesangial_hypercellularity,
    F.nodular_sclerosis,
    F.fibrinoid_necrosis,
)


# --- adequacy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "category", "met"),
    [(0, "inadequate", False), (6, "inadequate", False), (7, "minimal", True), (8, "minimal", True),
     (9, "minimal", True), (10, "adequate", True), (25, "adequate", True)],
)
def test_adequacy_edges(n: int, category: str, met: bool) -> None:
    a = case(n).assess()[Scheme.adequacy]
    assert a.value == category
    assert a.adequacy.met is met
    assert a.computable is Computable.full


def test_not_assessable_glomeruli_count_for_adequacy_only() -> None:
    out = Builder().normal(6).cut(4).assess()
    assert out[Scheme.adequacy].value == "adequate"
    assert out[Scheme.adequacy].inputs.n_glomeruli == 10
    assert out[Scheme.adequacy].inputs.n_assessable == 6
    # six assessable glomeruli are below every score's minimum
    assert out[Scheme.percent_global_sclerosis].computable is Computable.no
    assert out[Scheme.oxford_mestc].computable is Computable.no


def test_adequacy_thresholds_are_configurable() -> None:
    cfg = AssessmentConfig.from_overrides({"adequacy_adequate_n": 12, "adequacy_minimal_n": 10})
    assert case(11).assess(cfg)[Scheme.adequacy].value == "minimal"
    assert case(9).assess(cfg)[Scheme.adequacy].value == "inadequate"


# --- percent global sclerosis ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("normal", "gs", "expected"),
    [(10, 0, 0.0), (5, 5, 50.0), (0, 10, 100.0), (6, 1, 100 / 7), (2, 6, 75.0)],
)
def test_percent_global_sclerosis(normal: int, gs: int, expected: float) -> None:
    a = case(normal, global_sclerosis=gs).assess()[Scheme.percent_global_sclerosis]
    assert a.value == pytest.approx(expected)
    assert a.inputs.counts_by_finding["global_sclerosis"] == gs


def test_indeterminate_glomeruli_are_in_n_but_not_in_numerators() -> None:
    b = case(5, global_sclerosis=4).unsure(GS, n=1)
    a = b.assess()[Scheme.percent_global_sclerosis]
    assert a.value == pytest.approx(40.0)
    assert a.inputs.n_assessable == 10
    assert a.inputs.n_indeterminate == 1
    assert a.inputs.indeterminate_by_finding["global_sclerosis"] == 1
    assert a.indeterminate_values == [pytest.approx(50.0)]


@pytest.mark.parametrize(("n", "computable"), [(6, Computable.no), (7, Computable.full)])
def test_percent_global_sclerosis_minimum(n: int, computable: Computable) -> None:
    a = case(n).assess()[Scheme.percent_global_sclerosis]
    assert a.computable is computable
    assert (a.value is None) is (computable is Computable.no)


# --- Oxford MEST-C -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "computable", "missing"),
    [(6, Computable.no, ["n_assessable>=8"]), (7, Computable.no, ["n_assessable>=8"]),
     (8, Computable.partial, ["T"]), (9, Computable.partial, ["T"]), (10, Computable.partial, ["T"])],
)
def test_mestc_minimum_and_missing_t(n: int, computable: Computable, missing: list[str]) -> None:
    a = case(n).assess()[Scheme.oxford_mestc]
    assert a.computable is computable
    assert a.missing == missing
    assert a.adequacy.threshold == 8
    assert a.adequacy.met is (n >= 8)


def test_mestc_t_from_report_makes_it_full() -> None:
    a = case(10).assess(report_T=2)[Scheme.oxford_mestc]
    assert a.value == {"M": 0, "E": 0, "S": 0, "T": 2, "C": 0}
    assert a.computable is Computable.full
    assert a.missing == []


@pytest.mark.parametrize(
    ("normal", "mes", "m"),
    [(4, 4, 0), (3, 5, 1), (5, 5, 0), (4, 6, 1), (8, 0, 0)],  # exactly 50 % stays M0
)
def test_mestc_m(normal: int, mes: int, m: int) -> None:
    a = case(normal, mesangial_hypercellularity=mes).assess()[Scheme.oxford_mestc]
    assert isinstance(a.value, dict) and a.value["M"] == m


@pytest.mark.parametrize(("lesions", "e", "s"), [({}, 0, 0), ({"endocapillary_hypercellularity": 1}, 1, 0),
                                                  ({"segmental_sclerosis": 1}, 0, 1)])
def test_mestc_e_s(lesions: dict[str, int], e: int, s: int) -> None:
    a = case(12 - sum(lesions.values()), **lesions).assess()[Scheme.oxford_mestc]
    assert isinstance(a.value, dict) and (a.value["E"], a.value["S"]) == (e, s)


@pytest.mark.parametrize(
    ("normal", "cellular", "fibrocellular", "fibrous", "c"),
    [
        (8, 0, 0, 0, 0),
        (7, 0, 0, 1, 0),  # fibrous crescents do not count for C
        (7, 1, 0, 0, 1),
        (6, 1, 1, 0, 2),  # 2/8 = exactly 25 % → C2
        (6, 0, 2, 0, 2),
        (7, 2, 0, 0, 1),  # 2/9 = 22 % → C1
        (9, 2, 1, 0, 2),  # 3/12 = exactly 25 %
        (10, 1, 1, 0, 1),  # 2/12 = 16.7 %
    ],
)
def test_mestc_c_edges(normal: int, cellular: int, fibrocellular: int, fibrous: int, c: int) -> None:
    b = case(normal, cellular_crescent=cellular, fibrocellular_crescent=fibrocellular, fibrous_crescent=fibrous)
    a = b.assess()[Scheme.oxford_mestc]
    assert isinstance(a.value, dict) and a.value["C"] == c


def test_mestc_component_without_model_coverage_is_missing() -> None:
    th = {k: v for k, v in THRESHOLDS.items() if k != "mesangial_hypercellularity"}
    a = case(10).assess(thresholds=th, report_T=0)[Scheme.oxford_mestc]
    assert isinstance(a.value, dict) and a.value["M"] is None
    assert a.computable is Computable.partial
    assert a.missing == ["mesangial_hypercellularity"]


# --- Japanese H-Grade ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("glps", "grade"),
    [(0, "I"), (4, "I"), (5, "II"), (9, "II"), (10, "III"), (14, "III"), (15, "IV"), (20, "IV")],
)
def test_h_grade_boundaries_25_50_75(glps: int, grade: str) -> None:
    a = case(20 - glps, global_sclerosis=glps).assess()[Scheme.japanese_h_grade]
    assert isinstance(a.value, dict)
    assert a.value["grade"] == grade
    assert a.value["glps_percent"] == pytest.approx(glps * 5.0)


@pytest.mark.parametrize(
    ("lesions", "lesion_type"),
    [
        ({}, None),
        ({"cellular_crescent": 1}, "A"),
        ({"fibrocellular_crescent": 2}, "A"),
        ({"global_sclerosis": 1, "fibrous_crescent": 1}, "C"),
        ({"segmental_sclerosis": 1}, "C"),
        ({"cellular_crescent": 1, "segmental_sclerosis": 1}, "A/C"),
        ({"endocapillary_hypercellularity": 3}, None),  # not a GLPS lesion
    ],
)
def test_h_grade_lesion_type(lesions: dict[str, int], lesion_type: str | None) -> None:
    a = case(10, **lesions).assess()[Scheme.japanese_h_grade]
    assert isinstance(a.value, dict) and a.value["lesion_type"] == lesion_type


def test_h_grade_counts_a_glomerulus_with_two_lesions_once() -> None:
    a = Builder().normal(6).lesion(GS, CC, n=2).assess()[Scheme.japanese_h_grade]
    assert isinstance(a.value, dict)
    assert a.value["glps_percent"] == pytest.approx(25.0)
    assert (a.value["grade"], a.value["lesion_type"]) == ("II", "A/C")


# --- Berden --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        (case(5, global_sclerosis=5), "sclerotic"),  # sclerotic is tested before focal
        (case(4, global_sclerosis=6), "sclerotic"),
        (case(6, global_sclerosis=4), "focal"),
        (case(5, cellular_crescent=5), "focal"),  # focal is tested before crescentic
        (case(4, cellular_crescent=5, global_sclerosis=1), "crescentic"),
        (case(4, cellular_crescent=4, global_sclerosis=2), "mixed"),
        (case(4, fibrocellular_crescent=6), "mixed"),  # only cellular crescents make "crescentic"
        (case(4, cellular_crescent=4).unsure(n=2), "mixed"),  # indeterminate is not normal
        (case(0, cellular_crescent=10), "crescentic"),
    ],
)
def test_berden_ordered_rules(builder: Builder, expected: str) -> None:
    a = builder.assess()[Scheme.berden]
    assert a.value == expected
    assert a.computable is Computable.full


@pytest.mark.parametrize(("n", "computable"), [(9, Computable.no), (10, Computable.full)])
def test_berden_minimum(n: int, computable: Computable) -> None:
    assert case(n).assess()[Scheme.berden].computable is computable


def test_berden_indeterminate_alternative() -> None:
    a = case(4, cellular_crescent=4).unsure(n=2).assess()[Scheme.berden]
    assert a.indeterminate_values == ["focal"]


# --- crescentic pattern --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("normal", "lesions", "crescentic", "pct"),
    [
        (6, {"cellular_crescent": 4}, False, 40.0),
        (5, {"cellular_crescent": 5}, True, 50.0),  # exactly 50 %
        (5, {"cellular_crescent": 2, "fibrocellular_crescent": 2, "fibrous_crescent": 1}, True, 50.0),
        (10, {}, False, 0.0),
    ],
)
def test_crescentic_pattern(normal: int, lesions: dict[str, int], crescentic: bool, pct: float) -> None:
    a = case(normal, **lesions).assess()[Scheme.crescentic_pattern]
    assert a.value == {"crescentic": crescentic, "crescent_percent": pytest.approx(pct)}


def test_crescent_percent_is_reported_below_the_minimum() -> None:
    a = case(3, cellular_crescent=3).assess()[Scheme.crescentic_pattern]
    assert a.computable is Computable.no
    assert a.value == {"crescentic": None, "crescent_percent": pytest.approx(50.0)}


# --- lupus nephritis -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "n", "score"),
    [(0, 10, 0), (1, 5, 1), (1, 4, 2), (2, 8, 2), (2, 4, 2), (5, 10, 2), (3, 5, 3), (6, 10, 3)],
)
def test_nih_score_edges(count: int, n: int, score: int) -> None:
    assert nih_score(count, n, (25.0, 50.0)) == score


@pytest.mark.parametrize(
    ("normal", "lesions", "ln_class"),
    [
        (10, {}, None),
        (6, {"endocapillary_hypercellularity": 4}, "III"),
        (5, {"endocapillary_hypercellularity": 5}, "IV"),  # exactly 50 %
        (5, {"cellular_crescent": 2, "fibrinoid_necrosis": 3}, "IV"),
        (1, {"global_sclerosis": 9}, "VI"),  # exactly 90 %
        (2, {"global_sclerosis": 8}, None),
        (1, {"global_sclerosis": 8, "fibrocellular_crescent": 1}, "III"),
    ],
)
def test_lupus_class(normal: int, lesions: dict[str, int], ln_class: str | None) -> None:
    a = case(normal, **lesions).assess()[Scheme.lupus_nephritis]
    assert isinstance(a.value, dict) and a.value["class"] == ln_class
    assert a.computable is Computable.partial
    assert a.missing == ["IF", "EM"]


def test_lupus_nih_glomerular_indices() -> None:
    # 12 glomeruli: endocapillary 3 (25 % → 2), necrosis 1 (8 % → 1, × 2), cellular/fibrocellular
    # crescents 7 (58 % → 3, × 2), sclerosis 1 global + 2 segmental (25 % → 2), fibrous crescents 0.
    b = Builder().lesion(ENDO, n=3).lesion(NEC).lesion(CC, n=2).lesion(CC, SS, n=2).lesion(FC, n=3).lesion(GS)
    assert len(b.records) == 12
    v = b.assess()[Scheme.lupus_nephritis].value
    assert isinstance(v, dict)
    assert v["class"] == "IV"
    assert v["active_percent"] == pytest.approx(11 / 12 * 100)
    assert v["nih_endocapillary_hypercellularity"] == 2
    assert v["nih_fibrinoid_necrosis"] == 2
    assert v["nih_cellular_fibrocellular_crescents"] == 6
    assert v["nih_activity_glomerular"] == 10
    assert v["nih_glomerulosclerosis"] == 2
    assert v["nih_fibrous_crescents"] == 0
    assert v["nih_chronicity_glomerular"] == 2


# --- diabetic nephropathy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("normal", "lesions", "dn_class", "computable"),
    [
        (5, {"global_sclerosis": 5}, None, Computable.no),  # exactly 50 % is not "> 50 %"
        (4, {"global_sclerosis": 6}, "IV", Computable.partial),
        (4, {"global_sclerosis": 5, "nodular_sclerosis": 1}, "III", Computable.partial),
        (9, {"nodular_sclerosis": 1}, "III", Computable.partial),
        (10, {}, None, Computable.no),
    ],
)
def test_diabetic_class(normal: int, lesions: dict[str, int], dn_class: str | None, computable: Computable) -> None:
    a = case(normal, **lesions).assess()[Scheme.diabetic_nephropathy]
    assert a.value == dn_class
    assert a.computable is computable
    assert "EM" in a.missing


# --- envelope ------------------------------------------------------------------------------------


def test_every_scheme_returns_the_domain_envelope() -> None:
    out = assess_case(case(9, global_sclerosis=1).records, AssessmentConfig(), THRESHOLDS,
                      model_versions=["detector@1.2", "classifier@0.9"])
    assert set(out) == set(Scheme)
    for scheme, a in out.items():
        assert a.scheme is scheme
        assert a.version == RULES_VERSION
        assert a.model_versions == ["detector@1.2", "classifier@0.9"]
        assert a.inputs.n_glomeruli == 10 and a.inputs.n_assessable == 10
        assert a.inputs.counts_by_finding["global_sclerosis"] == 1
        dumped = a.model_dump(mode="json")
        assert {"scheme", "version", "value", "inputs", "adequacy", "computable", "missing",
                "model_versions"} <= set(dumped)


def test_scheme_without_model_coverage_is_not_computable() -> None:
    th = {"global_sclerosis": Thresholds(0.3, 0.7)}
    out = case(10).assess(thresholds=th)
    assert out[Scheme.percent_global_sclerosis].computable is Computable.full
    assert out[Scheme.japanese_h_grade].computable is Computable.no
    assert "cellular_crescent" in out[Scheme.japanese_h_grade].missing
    assert out[Scheme.berden].computable is Computable.no
