"""Customer lifetime value: BG/NBD for purchase counts, Gamma-Gamma for spend.

Pure wrappers around the ``lifetimes`` library, fed with per-member summaries
the warehouse computed, exactly as Fader, Hardie & Lee define them:

- purchases are counted per *day* (two orders on one day are one transaction,
  their spend added), as ``lifetimes.utils.summary_data_from_transaction_data``;
- ``frequency`` is the number of repeat purchase days, ``recency`` the time from
  the first to the last purchase day, ``T`` the time from the first purchase day
  to the end of calibration, in days or in weeks of 7 days (fractional);
- Gamma-Gamma is fitted on the average spend of *repeat* purchase days of members
  with at least one, in major currency units (dollars, not cents), since the model
  is not scale-free in practice (its optimiser starts at 1).

Reported log-likelihoods are on the data in the chosen time unit (lifetimes fits
on internally rescaled times; its own figure is per customer on that scale), so
they compare with published values, e.g. −9582.4 for CDNOW in weeks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from patron.analytics.domain import InsufficientData, to_minor
from patron.errors import InvalidInput

TimeUnit = Literal["day", "week"]
UNIT_DAYS: dict[str, int] = {"day": 1, "week": 7}
MIN_CUSTOMERS = 20
MIN_REPEAT_CUSTOMERS = 10


class ModelDidNotConverge(InvalidInput):
    code = "clv_model_did_not_converge"
    title = "The lifetime value model did not converge"


@dataclass(frozen=True)
class Histories:
    """Per-member purchase summaries over the calibration period, in days."""

    member_ids: Sequence[int]
    frequency: Sequence[int]
    recency_days: Sequence[int]
    age_days: Sequence[int]
    repeat_spend: Sequence[float]
    """Average spend per repeat purchase day, major units; 0 without repeats."""


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    penalizer: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int
    penalizer: float


@dataclass(frozen=True)
class Fit:
    unit: str
    bgnbd: BgNbd
    gamma_gamma: GammaGamma
    _bg: object
    _gg: object


@dataclass(frozen=True)
class Predictions:
    probability_alive: np.ndarray
    expected_purchases: np.ndarray
    expected_average_spend: np.ndarray
    """Gamma-Gamma's expected spend per purchase (major units)."""

    @property
    def expected_value(self) -> np.ndarray:
        return self.expected_purchases * self.expected_average_spend


def _arrays(h: Histories, unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    days = float(UNIT_DAYS[unit])
    return (np.asarray(h.frequency, dtype=float), np.asarray(h.recency_days, dtype=float) / days,
            np.asarray(h.age_days, dtype=float) / days, np.asarray(h.repeat_spend, dtype=float))


def _check_enough(h: Histories) -> None:
    customers = len(h.member_ids)
    repeaters = sum(1 for f, m in zip(h.frequency, h.repeat_spend) if f > 0 and m > 0)
    if customers < MIN_CUSTOMERS or repeaters < MIN_REPEAT_CUSTOMERS:
        raise InsufficientData(
            f"lifetime value needs at least {MIN_CUSTOMERS} purchasing members and "
            f"{MIN_REPEAT_CUSTOMERS} with repeat purchases in the calibration period; "
            f"found {customers} and {repeaters}",
            customers=customers, repeat_customers=repeaters)


PENALIZERS = (0.0, 0.001, 0.01, 0.1)
"""Tried in turn: no penalty reproduces the published fits; real data that will not
converge without one gets the smallest that works, and the report says which."""


def _fit_with(penalizer: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray,
              m: np.ndarray) -> tuple[object, object]:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    repeat = (x > 0) & (m > 0)
    bg, gg = BetaGeoFitter(penalizer_coef=penalizer), GammaGammaFitter(penalizer_coef=penalizer)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg.fit(x, t_x, big_t)
        gg.fit(x[repeat], m[repeat])
    return bg, gg


def fit(h: Histories, unit: TimeUnit = "week") -> Fit:
    """Fit BG/NBD on everyone and Gamma-Gamma on repeat buyers."""
    _check_enough(h)
    with warnings.catch_warnings():  # lifetimes sets a pandas option pandas 3 deprecates
        warnings.simplefilter("ignore")
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import ConvergenceError

    x, t_x, big_t, m = _arrays(h, unit)
    repeat = (x > 0) & (m > 0)
    for penalizer in PENALIZERS:
        try:
            bg, gg = _fit_with(penalizer, x, t_x, big_t, m)
        except ConvergenceError:
            continue
        r, alpha, a, b = (float(bg.params_[k]) for k in ("r", "alpha", "a", "b"))
        p, q, v = (float(gg.params_[k]) for k in ("p", "q", "v"))
        if all(np.isfinite((r, alpha, a, b, p, q, v))) and q > 1:
            break
    else:
        raise ModelDidNotConverge("BG/NBD or Gamma-Gamma did not converge on this history, "
                                  f"even with a penalty of {PENALIZERS[-1]}")
    bg_ll = -len(x) * float(BetaGeoFitter._negative_log_likelihood(
        np.log([r, alpha, a, b]), x, t_x, big_t, np.ones(len(x)), 0.0))
    gg_ll = -int(repeat.sum()) * float(GammaGammaFitter._negative_log_likelihood(
        np.log([p, q, v]), x[repeat], m[repeat], np.ones(int(repeat.sum())), 0.0))
    return Fit(unit, BgNbd(r, alpha, a, b, bg_ll, len(x), penalizer),
               GammaGamma(p, q, v, gg_ll, int(repeat.sum()), penalizer), bg, gg)


def predict(model: Fit, h: Histories, horizon_days: int) -> Predictions:
    """P(alive), expected purchases over the horizon and expected spend per purchase."""
    x, t_x, big_t, m = _arrays(h, model.unit)
    horizon = horizon_days / UNIT_DAYS[model.unit]
    bg, gg = model._bg, model._gg
    with np.errstate(all="ignore"):
        alive = np.asarray(bg.conditional_probability_alive(x, t_x, big_t), dtype=float)
        purchases = np.asarray(bg.conditional_expected_number_of_purchases_up_to_time(
            horizon, x, t_x, big_t), dtype=float)
        spend = np.asarray(gg.conditional_expected_average_profit(x, m), dtype=float)
    return Predictions(alive, purchases, spend)


def histories(rows: Sequence[tuple[int, int, int, int, float]], minor_exponent: int) -> Histories:
    """From ``(member, frequency, recency days, age days, repeat spend in minor units)``."""
    scale = 10.0 ** minor_exponent
    return Histories([r[0] for r in rows], [int(r[1]) for r in rows], [int(r[2]) for r in rows],
                     [int(r[3]) for r in rows], [float(r[4]) / scale for r in rows])


def member_rows(h: Histories, ahead: Predictions, unit: str, minor_exponent: int,
                holdout: dict[int, int] | None) -> list[dict[str, object]]:
    """One row per member, highest expected value first (then by member id)."""
    days = UNIT_DAYS[unit]
    value = ahead.expected_value
    rows = [dict(member_id=member_id, frequency=h.frequency[i],
                 recency=round(h.recency_days[i] / days, 4), age=round(h.age_days[i] / days, 4),
                 average_repeat_spend=to_minor(h.repeat_spend[i], minor_exponent),
                 probability_alive=round(float(ahead.probability_alive[i]), 6),
                 expected_purchases=round(float(ahead.expected_purchases[i]), 6),
                 expected_average_spend=to_minor(ahead.expected_average_spend[i],
                                                 minor_exponent),
                 expected_value=to_minor(value[i], minor_exponent),
                 holdout_purchases=None if holdout is None else holdout.get(member_id, 0))
            for i, member_id in enumerate(h.member_ids)]
    rows.sort(key=lambda r: (-int(r["expected_value"]), r["member_id"]))
    return rows
