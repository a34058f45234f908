"""Synthetic members and purchases with a known campaign effect, to check the lift.

Shoppers are as uneven as real ones: a share never buys; the others buy at their own
rate (gamma-distributed across members, Poisson given the rate) with lognormal
baskets. Treatment baskets are ``1 + lift`` times what they would have been, so the
true difference in mean spend per member is ``lift × expected_spend``, known exactly.
Groups come from the shared assignment rule (:func:`bucket`).

Used by ``benchmarks/campaign_lift.py`` and the coverage test: the 95% interval must
cover the true difference about 95 times in 100, and the estimates must average to it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from patron.campaigns.stats import Lift, Moments, welch_lift


def bucket(program_id: int, campaign_id: str, member_id: int) -> int:
    """The campaign assignment bucket, 0..9999 (the rule every part of Patron shares)."""
    digest = hashlib.sha256(f"{program_id}:{campaign_id}:{member_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def in_holdout(program_id: int, campaign_id: str, member_ids: np.ndarray,
               holdout: Decimal) -> np.ndarray:
    limit = holdout * 10000
    return np.array([bucket(program_id, campaign_id, int(m)) < limit for m in member_ids],
                    dtype=bool)


@dataclass(frozen=True)
class Shoppers:
    """How members buy over a campaign's window (minor units)."""

    dormant: float = 0.35
    rate_shape: float = 1.5
    rate_mean: float = 2.5
    basket_mean: float = 30_00
    basket_sigma: float = 0.6

    @property
    def expected_spend(self) -> float:
        return (1 - self.dormant) * self.rate_mean * self.basket_mean

    def purchases(self, rng: np.random.Generator, uplift: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Per member, how many purchases; and every basket in member order (integers),
        each multiplied by the member's ``uplift`` (1 for holdout)."""
        n = len(uplift)
        rates = rng.gamma(self.rate_shape, self.rate_mean / self.rate_shape, n)
        rates[rng.random(n) < self.dormant] = 0.0
        counts = rng.poisson(rates)
        mu = math.log(self.basket_mean) - self.basket_sigma ** 2 / 2
        baskets = rng.lognormal(mu, self.basket_sigma, int(counts.sum()))
        baskets *= np.repeat(uplift, counts)
        return counts, np.maximum(np.rint(baskets), 1).astype(np.int64)

    def spend(self, rng: np.random.Generator, uplift: np.ndarray) -> np.ndarray:
        """Spend per member, zero spenders included."""
        counts, baskets = self.purchases(rng, uplift)
        owner = np.repeat(np.arange(len(uplift)), counts)
        return np.bincount(owner, weights=baskets, minlength=len(uplift))


def moments(values: np.ndarray) -> Moments:
    return Moments(len(values), float(values.sum()), float((values * values).sum()))


@dataclass(frozen=True)
class Coverage:
    repetitions: int
    members: int
    true_difference: float
    covered: int
    mean_difference: float
    mean_holdout: float
    difference_sd: float

    @property
    def coverage(self) -> float:
        return self.covered / self.repetitions

    @property
    def bias(self) -> float:
        """Mean estimate's distance from the true difference, as a share of it."""
        return (self.mean_difference - self.true_difference) / self.true_difference

    @property
    def bias_standard_error(self) -> float:
        """Monte Carlo error of ``bias``: how far it may stray by chance alone."""
        return self.difference_sd / math.sqrt(self.repetitions) / self.true_difference


def repeat(*, members: int, repetitions: int, lift: float, holdout: Decimal, seed: int,
           shoppers: Shoppers = Shoppers()) -> Coverage:
    """Draw ``repetitions`` campaigns over the same members and estimate each."""
    rng = np.random.default_rng(seed)
    held = in_holdout(1, "spring", np.arange(1, members + 1), holdout)
    uplift = np.where(held, 1.0, 1.0 + lift)
    truth = lift * shoppers.expected_spend
    estimates: list[Lift] = []
    for _ in range(repetitions):
        spend = shoppers.spend(rng, uplift)
        estimates.append(welch_lift(moments(spend[~held]), moments(spend[held])))
    differences = np.array([e.difference for e in estimates])
    return Coverage(repetitions, members, truth, sum(e.covers(truth) for e in estimates),
                    float(differences.mean()),
                    float(np.mean([e.holdout_mean for e in estimates])),
                    float(differences.std(ddof=1)))
