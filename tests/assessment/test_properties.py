"""Invariants of the assessment rules over arbitrary cases (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.assessment import (
    Assessment,
    AssessmentConfig,
    Finding,
    GlomerulusRecord,
    GlomerulusStatus,
    Scheme,
    assess_case,
    glomerulus_status,
)
from tests.assessment.factories import ABSENT, THRESHOLDS

PROB = st.sampled_from([0.0, 0.05, 0.29, 0.3, 0.5, 0.69, 0.7, 0.95, 1.0]) | st.floats(0.0, 1.0)
FLAGS = st.lists(st.sampled_from(["edge_cut", "out_of_focus", "pale"]), max_size=1)


@st.composite
def glomeruli(draw: st.DrawFn, max_size: int = 40) -> list[GlomerulusRecord]:
    n = draw(st.integers(0, max_size))
    return [
        GlomerulusRecord(
            id=i + 1,
            probabilities={f.value: draw(PROB) for f in Finding},
            flags=draw(st.one_of(st.just([]), FLAGS)),
        )
        for i in range(n)
    ]


def run(records: list[GlomerulusRecord]) -> dict[Scheme, Assessment]:
    return assess_case(records, AssessmentConfig(), THRESHOLDS, report_T=None)


GRADE = {"I": 0, "II": 1, "III": 2, "IV": 3}
BERDEN = {"focal": 0, "crescentic": 1, "mixed": 2, "sclerotic": 3}
LN = {None: 0, "III": 1, "IV": 2, "VI": 3}
DN = {None: 0, "III": 1, "IV": 2}


def severities(out: dict[Scheme, Assessment]) -> dict[str, float]:
    """Every score and percentage as a number where larger means worse; absent when not computable."""
    s: dict[str, float] = {}
    for scheme, a in out.items():
        v = a.value
        if scheme is Scheme.percent_global_sclerosis and isinstance(v, float):
            s["pgs"] = v
        elif scheme is Scheme.oxford_mestc and isinstance(v, dict):
            for k in ("M", "E", "S", "C"):
                assert isinstance(v[k], int)
                s[k] = v[k]
        elif scheme is Scheme.japanese_h_grade and isinstance(v, dict):
            assert isinstance(v["grade"], str) and isinstance(v["glps_percent"], float)
            s["h_grade"], s["glps"] = GRADE[v["grade"]], v["glps_percent"]
        elif scheme is Scheme.berden and isinstance(v, str):
            s["berden"] = BERDEN[v]
        elif scheme is Scheme.crescentic_pattern and isinstance(v, dict):
            if isinstance(v["crescent_percent"], float):
                s["crescent_pct"] = v["crescent_percent"]
            if isinstance(v["crescentic"], bool):
                s["crescentic"] = int(v["crescentic"])
        elif scheme is Scheme.lupus_nephritis and isinstance(v, dict):
            for k, x in v.items():
                if k == "class":
                    assert x is None or isinstance(x, str)
                    s["ln_class"] = LN[x]
                elif isinstance(x, int | float):
                    s[f"ln_{k}"] = x
        elif scheme is Scheme.diabetic_nephropathy and a.adequacy.met:
            assert v is None or isinstance(v, str)
            s["dn_class"] = DN[v]
    return s


@settings(max_examples=150, deadline=None)
@given(glomeruli())
def test_adding_a_normal_glomerulus_never_raises_any_score(records: list[GlomerulusRecord]) -> None:
    before = severities(run(records))
    normal = GlomerulusRecord(id=10_000, probabilities={f.value: ABSENT for f in Finding})
    after = severities(run([*records, normal]))
    for key, value in before.items():
        if key == "berden":
            continue  # not monotone by design, checked below
        if key in after:  # a score that only becomes computable with the extra glomerulus is not "raised"
            assert after[key] <= value + 1e-9, key
    # Berden's ordered rules are not monotone in prognosis order: diluting crescents below 50% with a
    # normal glomerulus turns "crescentic" into "mixed" (published behaviour). What must hold: a normal
    # glomerulus never makes a biopsy sclerotic, and a focal biopsy stays focal.
    if "berden" in before and "berden" in after:
        assert not (after["berden"] == BERDEN["sclerotic"] and before["berden"] != BERDEN["sclerotic"])
        if before["berden"] == BERDEN["focal"]:
            assert after["berden"] == BERDEN["focal"]


@settings(max_examples=150, deadline=None)
@given(glomeruli())
def test_percentages_are_within_0_and_100(records: list[GlomerulusRecord]) -> None:
    for key, value in severities(run(records)).items():
        if key in ("pgs", "glps", "crescent_pct") or key.endswith("_percent"):
            assert 0.0 <= value <= 100.0, key


@settings(max_examples=150, deadline=None)
@given(glomeruli())
def test_removing_indeterminate_glomeruli_does_not_change_numerators(records: list[GlomerulusRecord]) -> None:
    out = run(records)
    inputs = out[Scheme.adequacy].inputs
    kept = [
        g for g in records
        if glomerulus_status(g.probabilities, THRESHOLDS, g.flags) is not GlomerulusStatus.indeterminate
    ]
    pruned = run(kept)[Scheme.adequacy].inputs
    assert pruned.counts_by_finding == inputs.counts_by_finding
    assert pruned.n_normal == inputs.n_normal
    assert pruned.n_assessable == inputs.n_assessable - inputs.n_indeterminate
    assert pruned.n_indeterminate == 0


@settings(max_examples=100, deadline=None)
@given(glomeruli())
def test_counts_are_consistent(records: list[GlomerulusRecord]) -> None:
    i = run(records)[Scheme.adequacy].inputs
    assert i.n_glomeruli == len(records)
    assert i.n_assessable + i.n_not_assessable == i.n_glomeruli
    assert i.n_normal + i.n_indeterminate <= i.n_assessable
    assert all(0 <= c <= i.n_assessable - i.n_normal - i.n_indeterminate for c in i.counts_by_finding.values())


@settings(max_examples=150, deadline=None)
@given(glomeruli())
def test_a_report_that_repeats_the_ai_compares_empty(records: list[GlomerulusRecord]) -> None:
    """DOMAIN.md §5: the comparison of the AI's own values with the AI is empty, for any case."""
    from app.discrepancies import compare, report_from_ai

    ai = run(records)
    reliable = {f.value: True for f in Finding}
    assert compare(report_from_ai(ai), ai, {}, reliable) == []
