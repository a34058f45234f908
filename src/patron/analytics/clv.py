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

import contextlib
import hashlib
import io
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from patron.analytics.domain import InsufficientData, to_minor_all
from patron.errors import InvalidInput

with warnings.catch_warnings():  # lifetimes sets a pandas option pandas 3 deprecates
    warnings.simplefilter("ignore")
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import ConvergenceError

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
"""Tried in turn, for each model on its own: no penalty reproduces the published
fits; a model that will not converge without one gets the smallest that works, and
the report says which each used (Gamma-Gamma often needs none where BG/NBD does)."""


def _quietly(fitter: Any, *data: np.ndarray) -> Any:
    with np.errstate(all="ignore"), warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()):  # lifetimes prints failed optimisations
        warnings.simplefilter("ignore")
        fitter.fit(*data)
    return fitter


def _first_fit(name: str, attempt: Callable[[float], tuple[Any, tuple[float, ...]]],
               sound: Callable[[tuple[float, ...]], bool]) -> tuple[Any, tuple[float, ...], float]:
    """The fit with the smallest penalty that converges to sound parameters."""
    for penalizer in PENALIZERS:
        try:
            fitter, params = attempt(penalizer)
        except ConvergenceError:
            continue
        if all(np.isfinite(params)) and sound(params):
            return fitter, params, penalizer
    raise ModelDidNotConverge(f"{name} did not converge on this history, even with a penalty "
                              f"of {PENALIZERS[-1]}", model=name)


def _fit_bgnbd(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> tuple[Any, BgNbd]:
    def attempt(penalizer: float) -> tuple[Any, tuple[float, ...]]:
        bg = _quietly(BetaGeoFitter(penalizer_coef=penalizer), x, t_x, big_t)
        return bg, tuple(float(bg.params_[k]) for k in ("r", "alpha", "a", "b"))

    bg, (r, alpha, a, b), penalizer = _first_fit("BG/NBD", attempt, lambda _: True)
    ll = -len(x) * float(BetaGeoFitter._negative_log_likelihood(
        np.log([r, alpha, a, b]), x, t_x, big_t, np.ones(len(x)), 0.0))
    return bg, BgNbd(r, alpha, a, b, ll, len(x), penalizer)


def _fit_gamma_gamma(x: np.ndarray, m: np.ndarray) -> tuple[Any, GammaGamma]:
    """On repeat buyers only; q > 1 is needed for the expected spend to exist."""
    def attempt(penalizer: float) -> tuple[Any, tuple[float, ...]]:
        gg = _quietly(GammaGammaFitter(penalizer_coef=penalizer), x, m)
        return gg, tuple(float(gg.params_[k]) for k in ("p", "q", "v"))

    gg, (p, q, v), penalizer = _first_fit("Gamma-Gamma", attempt, lambda ps: ps[1] > 1)
    ll = -len(x) * float(GammaGammaFitter._negative_log_likelihood(
        np.log([p, q, v]), x, m, np.ones(len(x)), 0.0))
    return gg, GammaGamma(p, q, v, ll, len(x), penalizer)


def fit(h: Histories, unit: TimeUnit = "week") -> Fit:
    """Fit BG/NBD on everyone and Gamma-Gamma on repeat buyers, each with its own penalty.

    A fit is a pure function of its inputs, and most of a CLV report's time: the fits of
    the last few distinct inputs are kept, keyed by the inputs themselves (a digest of
    every member's figures), so a report asked again on unchanged purchases reuses its
    fit, and one purchase more anywhere is a new key, never a stale fit."""
    _check_enough(h)
    x, t_x, big_t, m = _arrays(h, unit)
    key = _digest(unit, x, t_x, big_t, m)
    with _FITS_LOCK:
        if (known := _FITS.get(key)) is not None:
            _FITS.move_to_end(key)
            return known
    repeat = (x > 0) & (m > 0)
    bg, bgnbd = _fit_bgnbd(x, t_x, big_t)
    gg, gamma_gamma = _fit_gamma_gamma(x[repeat], m[repeat])
    made = Fit(unit, bgnbd, gamma_gamma, bg, gg)
    with _FITS_LOCK:
        _FITS[key] = made
        while len(_FITS) > KEPT_FITS:
            _FITS.popitem(last=False)
    return made


KEPT_FITS = 8
_FITS: OrderedDict[bytes, Fit] = OrderedDict()
_FITS_LOCK = threading.Lock()


def _digest(unit: str, *columns: np.ndarray) -> bytes:
    digest = hashlib.blake2b(unit.encode(), digest_size=20)
    for column in columns:
        data = np.ascontiguousarray(column, dtype=float)
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data.tobytes())
    return digest.digest()


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


def finite_sum(values: np.ndarray) -> float:
    """The sum of the finite values: a member the model gives no figure adds nothing."""
    values = np.asarray(values, dtype=float)
    return float(values[np.isfinite(values)].sum())


def _minor_or_none(amounts: np.ndarray, minor_exponent: int) -> list[int | None]:
    amounts = np.asarray(amounts, dtype=float)
    known = np.isfinite(amounts)
    minor = to_minor_all(np.where(known, amounts, 0.0), minor_exponent)
    return [m if k else None for m, k in zip(minor, known.tolist())]


def _rounded_or_none(values: np.ndarray, digits: int) -> list[float | None]:
    values = np.asarray(values, dtype=float)
    return [round(v, digits) if math.isfinite(v) else None for v in values.tolist()]


def member_rows(h: Histories, ahead: Predictions, unit: str, minor_exponent: int,
                holdout: dict[int, int] | None) -> list[dict[str, object]]:
    """One row per member, highest expected value first (then by member id).

    A fit can be degenerate (BG/NBD's dropout parameters a and b near zero, a few dozen
    members): its formulas then give no finite figure for some members, typically
    those without a repeat purchase. Their figures are None, not a made-up number,
    and they come last."""
    days = UNIT_DAYS[unit]
    repeat_spend = to_minor_all(h.repeat_spend, minor_exponent)
    average_spend = _minor_or_none(ahead.expected_average_spend, minor_exponent)
    value = _minor_or_none(ahead.expected_value, minor_exponent)
    alive = _rounded_or_none(ahead.probability_alive, 6)
    purchases = _rounded_or_none(ahead.expected_purchases, 6)
    rows = [dict(member_id=member_id, frequency=h.frequency[i],
                 recency=round(h.recency_days[i] / days, 4), age=round(h.age_days[i] / days, 4),
                 average_repeat_spend=repeat_spend[i],
                 probability_alive=alive[i],
                 expected_purchases=purchases[i],
                 expected_average_spend=average_spend[i],
                 expected_value=value[i],
                 holdout_purchases=None if holdout is None else holdout.get(member_id, 0))
            for i, member_id in enumerate(h.member_ids)]
    rows.sort(key=lambda r: (r["expected_value"] is None, -int(r["expected_value"] or 0),
                             r["member_id"]))
    return rows
