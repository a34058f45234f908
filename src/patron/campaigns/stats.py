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
hand over three numbers per group however many members a campaign has. The t quantile
is computed here (the regularized incomplete beta by its continued fraction), so
reading results needs neither numpy nor scipy, whose import every ``patron`` command
would otherwise pay; the tests check it against ``scipy.stats``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist


CONFIDENCE = 0.95


@dataclass(frozen=True)
class Moments:
    """One group's per-member figure as count, sum and sum of squares."""

    n: int
    total: float
    squares: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Moments:
        return cls(len(values), math.fsum(values), math.fsum(v * v for v in values))

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
    t = t_quantile((1 + confidence) / 2, df)
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


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta I_x(a, b)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T ≤ t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T ≤ t) = p, for p in (0.5, 1), by bisection on the CDF; past 10⁵
    degrees of freedom (where the beta's log-gamma terms lose digits) by the normal
    quantile with the Cornish–Fisher terms in 1/df and 1/df²."""
    if df > 1e5:
        z = NormalDist().inv_cdf(p)
        return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df * df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2
    for _ in range(200):
        middle = (low + high) / 2
        if middle in (low, high):
            break
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2
