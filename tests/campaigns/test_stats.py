"""Welch lift against scipy and hand computation, and the edges where no interval exists."""

from __future__ import annotations

import hashlib
import math
import numpy as np
import pytest
from scipy import stats as scipy_stats

from patron.campaigns.lift_simulation import bucket
from patron.campaigns.stats import Moments, t_cdf, t_quantile, welch_lift


def test_difference_and_interval_equal_scipy_welch():
    rng = np.random.default_rng(7)
    treatment = rng.gamma(0.8, 40.0, 900)
    holdout = rng.gamma(0.8, 36.0, 110)
    lift = welch_lift(Moments.of(treatment), Moments.of(holdout))
    scipy = scipy_stats.ttest_ind(treatment, holdout, equal_var=False)
    interval = scipy.confidence_interval(0.95)
    assert lift.difference == pytest.approx(treatment.mean() - holdout.mean())
    assert (lift.low, lift.high) == pytest.approx((interval.low, interval.high))
    assert lift.degrees_of_freedom == pytest.approx(scipy.df)


def test_relative_lift_by_the_delta_method_by_hand():
    treatment, holdout = [10.0, 14.0, 12.0, 16.0], [8.0, 12.0, 10.0]
    lift = welch_lift(Moments.of(treatment), Moments.of(holdout))
    a, b = np.var(treatment, ddof=1) / 4, np.var(holdout, ddof=1) / 3
    df = (a + b) ** 2 / (a * a / 3 + b * b / 2)
    t = scipy_stats.t.ppf(0.975, df)
    se = math.sqrt(a + (13 / 10) ** 2 * b) / 10
    assert lift.relative == pytest.approx(0.3)
    assert (lift.relative_low, lift.relative_high) == pytest.approx((0.3 - t * se, 0.3 + t * se))
    assert lift.difference == pytest.approx(3.0)
    assert lift.low < lift.difference < lift.high


def test_a_group_of_one_has_no_interval_and_says_why():
    lift = welch_lift(Moments.of([5.0, 7.0, 9.0]), Moments.of([4.0]))
    assert lift.difference == pytest.approx(3.0)
    assert (lift.low, lift.high) == (None, None)
    assert "at least two members" in lift.reason
    empty = welch_lift(Moments.of([5.0, 7.0]), Moments.of([]))
    assert empty.holdout_mean == 0 and empty.relative is None and empty.low is None


def test_zero_variance_gives_the_difference_itself():
    lift = welch_lift(Moments.of([3.0, 3.0, 3.0]), Moments.of([2.0, 2.0]))
    assert (lift.low, lift.difference, lift.high) == (1.0, 1.0, 1.0)
    assert lift.relative == pytest.approx(0.5) and "no variance" in lift.reason


def test_a_holdout_that_spent_nothing_has_no_relative_lift():
    lift = welch_lift(Moments.of([0.0, 4.0, 8.0]), Moments.of([0.0, 0.0, 0.0]))
    assert lift.low is not None and lift.relative is None
    assert "holdout's mean is zero" in lift.reason


def test_buckets_follow_the_shared_rule():
    assert bucket(1, "spring", 42) == int.from_bytes(
        hashlib.sha256(b"1:spring:42").digest()[:8], "big") % 10000


@pytest.mark.parametrize("df", [1, 1.7, 2, 5, 12.3, 30, 118.6, 1_000, 250_000, 3e7])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995])
def test_t_quantile_equals_scipy(df, p):
    assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9)
    if df <= 1e5:  # beyond, the quantile does not use the CDF
        assert t_cdf(scipy_stats.t.ppf(p, df), df) == pytest.approx(p, rel=1e-10)
