"""Lift of a campaign: treatment against holdout, with an interval that says how sure.

The estimate is Welch's two-sample difference in means (treatment − holdout) of a
per-member figure (spend, orders), every assigned member counting, zero spenders too.
Welch rather than Student because a campaign changes the spread as well as the mean
and the groups are of very different sizes (a 10% holdout); its 95% interval uses the
t distribution with Welch–Satterthwaite degrees of freedom.

Relative lift (difference / holdout mean) gets its interval by the delta method: the
variance of mean_t / mean_h to first order, with the same t quantile. It is close to
Fieller's interval while the holdout mean is many standard errors from zero, which a
holdout large enough to read a result from always is.

Everything works on group moments (count, sum, sum of squares), so the database can
hand over three numbers per group however many members a campaign has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Moments:
    """One group's per-member figure as count, sum and sum of squares."""

    n: int
    total: float
    squares: float

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Moments:
        array = np.asarray(values, dtype=float)
        return cls(len(array), float(array.sum()), float((array * array).sum()))

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        """Sample variance (n − 1); 0 for fewer than two members or rounding below 0."""
        if self.n < 2:
            return 0.0
        return max((self.squares - self.total * self.mean) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class Lift:
    """Treatment − holdout in means, absolute and relative, with their intervals.

    ``low``/``high`` (and the relative ones) are None when no interval can be given;
    ``reason`` then says why.
    """

    treatment_mean: float
    holdout_mean: float
    difference: float
    low: float | None
    high: float | None
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    degrees_of_freedom: float | None
    confidence: float = CONFIDENCE
    reason: str | None = None

    def covers(self, value: float) -> bool:
        return self.low is not None and self.high is not None and self.low <= value <= self.high


def welch_lift(treatment: Moments, holdout: Moments, confidence: float = CONFIDENCE) -> Lift:
    """Welch difference in means with a ``confidence`` interval, and relative lift by
    the delta method."""
    difference = treatment.mean - holdout.mean
    relative = difference / holdout.mean if holdout.mean else None
    if treatment.n < 2 or holdout.n < 2:
        return Lift(treatment.mean, holdout.mean, difference, None, None, relative, None,
                    None, None, confidence,
                    reason="each group needs at least two members for an interval")
    a, b = treatment.variance / treatment.n, holdout.variance / holdout.n
    if a + b == 0:
        return Lift(treatment.mean, holdout.mean, difference, difference, difference,
                    relative, relative, relative, None, confidence,
                    reason="no variance: every member of each group has the same figure")
    df = (a + b) ** 2 / (a * a / (treatment.n - 1) + b * b / (holdout.n - 1))
    t = float(stdtrit(df, (1 + confidence) / 2))  # the t quantile; scipy.stats loads slowly
    half = t * math.sqrt(a + b)
    rel_low = rel_high = None
    reason = None
    if holdout.mean:
        ratio = treatment.mean / holdout.mean
        se = math.sqrt(a + ratio * ratio * b) / abs(holdout.mean)
        rel_low, rel_high = relative - t * se, relative + t * se
    else:
        reason = "the holdout's mean is zero: no relative lift"
    return Lift(treatment.mean, holdout.mean, difference, difference - half, difference + half,
                relative, rel_low, rel_high, df, confidence, reason)
