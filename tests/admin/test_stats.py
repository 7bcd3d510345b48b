"""Agreement statistics against hand-computed values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.admin.stats import agreement, wilson


def test_kappa_matches_a_hand_computed_table() -> None:
    # 2×2 table [[20, 5], [10, 15]]: po = 0.70, pe = 0.5·0.6 + 0.5·0.4 = 0.50, κ = 0.40.
    pairs = [("1", "1")] * 20 + [("1", "0")] * 5 + [("0", "1")] * 10 + [("0", "0")] * 15
    a = agreement(pairs)
    assert a.n == 50 and a.percent_agreement == pytest.approx(70.0)
    assert a.kappa == pytest.approx(0.40)
    se = math.sqrt(0.7 * 0.3 / (50 * 0.25))
    assert a.kappa_ci == pytest.approx((0.40 - 1.959964 * se, 0.40 + 1.959964 * se), abs=1e-5)
    assert a.labels == ["0", "1"] and a.matrix == [[15, 10], [5, 20]]


def test_undefined_kappa_and_empty_input() -> None:
    a = agreement([("I", "I")] * 4)
    assert a.kappa is None and a.percent_agreement == 100.0 and a.percent_ci is not None
    e = agreement([])
    assert e.n == 0 and e.kappa is None and e.percent_agreement is None and e.matrix == []


def test_wilson_interval_is_sane_at_the_edges() -> None:
    lo, hi = wilson(0, 10)  # type: ignore[misc]
    assert lo == 0.0 and 0 < hi < 35
    lo, hi = wilson(10, 10)  # type: ignore[misc]
    assert 65 < lo < 100 and hi == 100.0
    assert wilson(0, 0) is None


@given(st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from("ABC")), min_size=1, max_size=60))
def test_kappa_bounds_and_matrix_total(pairs: list[tuple[str, str]]) -> None:
    a = agreement(pairs)
    assert sum(map(sum, a.matrix)) == len(pairs)
    if a.kappa is not None:
        assert -1.0 <= a.kappa <= 1.0 + 1e-12
        assert a.kappa_ci is not None and a.kappa_ci[0] <= a.kappa <= a.kappa_ci[1]
    assert a.percent_ci is not None and a.percent_ci[0] <= a.percent_agreement <= a.percent_ci[1]  # type: ignore[operator]


@given(st.lists(st.sampled_from("ABCD"), min_size=2, max_size=40))
def test_a_rater_agrees_perfectly_with_itself(labels: list[str]) -> None:
    a = agreement([(x, x) for x in labels])
    assert a.percent_agreement == 100.0
    assert a.kappa is None or a.kappa == pytest.approx(1.0)
