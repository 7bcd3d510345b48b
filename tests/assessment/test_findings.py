from __future__ import annotations

import pytest

from app.assessment import (
    LABELS,
    Finding,
    FindingState,
    GlomerulusStatus,
    Thresholds,
    finding_state,
    glomerulus_status,
)

TH = Thresholds(t_lo=0.3, t_hi=0.7)
ALL = {f.value: TH for f in Finding}


def test_ontology_v1_keys_and_labels() -> None:
    assert [f.value for f in Finding] == [
        "global_sclerosis",
        "segmental_sclerosis",
        "cellular_crescent",
        "fibrocellular_crescent",
        "fibrous_crescent",
        "endocapillary_hypercellularity",
        "mesangial_hypercellularity",
        "nodular_sclerosis",
        "fibrinoid_necrosis",
    ]
    assert set(LABELS) == set(Finding)
    assert LABELS[Finding.global_sclerosis].ja == "全節性硬化"
    assert LABELS[Finding.fibrinoid_necrosis].ja == "フィブリノイド壊死"


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, FindingState.absent),
        (0.2999, FindingState.absent),
        (0.3, FindingState.indeterminate),  # t_lo itself is no longer "absent"
        (0.6999, FindingState.indeterminate),
        (0.7, FindingState.present),  # t_hi itself is "present"
        (1.0, FindingState.present),
    ],
)
def test_finding_state_edges(p: float, expected: FindingState) -> None:
    assert finding_state(p, TH) is expected


def test_equal_thresholds_leave_no_indeterminate_band() -> None:
    th = Thresholds(0.5, 0.5)
    assert finding_state(0.4999, th) is FindingState.absent
    assert finding_state(0.5, th) is FindingState.present


@pytest.mark.parametrize(("lo", "hi"), [(0.8, 0.2), (-0.1, 0.5), (0.5, 1.1)])
def test_thresholds_validate(lo: float, hi: float) -> None:
    with pytest.raises(ValueError):
        Thresholds(lo, hi)


def _probs(**overrides: float) -> dict[str, float]:
    probs = {f.value: 0.05 for f in Finding}
    probs.update(overrides)
    return probs


@pytest.mark.parametrize(
    ("probs", "flags", "expected"),
    [
        (_probs(), [], GlomerulusStatus.normal),
        (_probs(global_sclerosis=0.9), [], GlomerulusStatus.abnormal),
        (_probs(global_sclerosis=0.5), [], GlomerulusStatus.indeterminate),
        # one present finding outweighs an indeterminate one
        (_probs(global_sclerosis=0.9, cellular_crescent=0.5), [], GlomerulusStatus.abnormal),
        (_probs(global_sclerosis=0.9), ["edge_cut"], GlomerulusStatus.not_assessable),
        (_probs(), ["out_of_focus"], GlomerulusStatus.not_assessable),
        (_probs(), ["some_other_flag"], GlomerulusStatus.normal),
        # a covered finding with no probability is not silently absent
        ({k: v for k, v in _probs().items() if k != "nodular_sclerosis"}, [], GlomerulusStatus.indeterminate),
    ],
)
def test_glomerulus_status(probs: dict[str, float], flags: list[str], expected: GlomerulusStatus) -> None:
    assert glomerulus_status(probs, ALL, flags) is expected


def test_findings_outside_the_model_card_are_ignored() -> None:
    only_gs = {"global_sclerosis": TH}
    assert glomerulus_status({"global_sclerosis": 0.1, "nodular_sclerosis": 0.99}, only_gs, []) is (
        GlomerulusStatus.normal
    )


def test_custom_not_assessable_flags() -> None:
    assert (
        glomerulus_status(_probs(), ALL, ["blurred"], not_assessable_flags=frozenset({"blurred"}))
        is GlomerulusStatus.not_assessable
    )


def test_global_sclerosis_supersedes_segmental_on_one_glomerulus() -> None:
    """Found by hypothesis: both sigmoids above t_hi counted one glomerulus twice (GS + SS > N)."""
    from app.assessment.findings import Finding as F
    from app.assessment.findings import FindingState, Thresholds, finding_states

    th = {"global_sclerosis": Thresholds(0.2, 0.4), "segmental_sclerosis": Thresholds(0.2, 0.4)}
    both = finding_states({"global_sclerosis": 0.7, "segmental_sclerosis": 0.7}, th)
    assert both[F.global_sclerosis] is FindingState.present and both[F.segmental_sclerosis] is FindingState.absent
    unsure_gs = finding_states({"global_sclerosis": 0.3, "segmental_sclerosis": 0.7}, th)
    assert unsure_gs[F.segmental_sclerosis] is FindingState.present  # only a present GS excludes SS
