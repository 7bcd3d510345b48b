"""Agreement statistics: percent agreement (Wilson CI), Cohen's κ (large-sample CI), confusion matrices.

Pure functions over (rater A, rater B) label pairs so they can be tested without a database.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Agreement:
    n: int
    percent_agreement: float | None
    percent_ci: tuple[float, float] | None
    kappa: float | None
    kappa_ci: tuple[float, float] | None
    labels: list[str]
    matrix: list[list[int]]  # rows: first rater, columns: second rater, both in ``labels`` order


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion, in percent; sensible at 0 % and 100 % unlike Wald."""
    if n == 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes == 0 else 100 * max(0.0, centre - half)
    hi = 100.0 if successes == n else 100 * min(1.0, centre + half)  # exact at the edges despite rounding
    return (lo, hi)


def _label(v: Hashable) -> str:
    return str(v)


def agreement(pairs: Sequence[tuple[Hashable, Hashable]], z: float = Z95) -> Agreement:
    """κ = (pₒ − pₑ)/(1 − pₑ) with SE = √(pₒ(1 − pₒ)/(n(1 − pₑ)²)) (Cohen 1960).

    κ is undefined (None) when chance agreement is 1, i.e. both raters used one and the same label.
    """
    a = [_label(x) for x, _ in pairs]
    b = [_label(y) for _, y in pairs]
    n = len(a)
    labels = sorted(set(a) | set(b))
    idx = {lab: i for i, lab in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for x, y in zip(a, b, strict=True):
        matrix[idx[x]][idx[y]] += 1
    if n == 0:
        return Agreement(0, None, None, None, None, labels, matrix)
    agree = sum(1 for x, y in zip(a, b, strict=True) if x == y)
    po = agree / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[lab] * cb[lab] for lab in labels) / (n * n)
    kappa: float | None = None
    kappa_ci: tuple[float, float] | None = None
    if pe < 1.0:
        kappa = (po - pe) / (1 - pe)
        se = math.sqrt(po * (1 - po) / (n * (1 - pe) ** 2))
        kappa_ci = (max(-1.0, kappa - z * se), min(1.0, kappa + z * se))
    return Agreement(n, 100 * po, wilson(agree, n, z), kappa, kappa_ci, labels, matrix)
