"""Pure analytics: report windows, bands, RFM scores and segments, cohort matrices, money.

Everything here works on plain values the warehouse queries returned, with "now"
passed in, so it is tested without a database. The lifetime-value models live
beside it in ``clv``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Literal

import numpy as np

from patron.errors import InvalidInput


class InvalidDateRange(InvalidInput):
    code = "invalid_date_range"
    title = "Invalid date range"


class InsufficientData(InvalidInput):
    code = "insufficient_data"
    title = "Too little data for this report"


# --------------------------------------------------------------------------- windows

@dataclass(frozen=True)
class Window:
    """The period a report looks at, in the program's local time.

    ``start`` is inclusive, ``end`` exclusive: the report is as of the end of its
    last day (see ``as_of``: the end date given, today, or the data's last day), so
    last year's report reads the same next year. Recency and lapsing are measured
    from that day.
    """

    start: datetime | None
    end: datetime

    @property
    def as_of(self) -> date:
        """The last day the window counts."""
        return (self.end - timedelta(microseconds=1)).date()


def window(start: date | None, end: date | None, now_local: datetime) -> Window:
    if start and end and start > end:
        raise InvalidDateRange(f"start {start} is after end {end}", field="start")
    last_day = end or now_local.date()
    end_at = datetime.combine(last_day + timedelta(days=1), time())
    start_at = datetime.combine(start, time()) if start else None
    if start is not None and start > now_local.date():
        raise InvalidDateRange(f"start {start} is in the future", field="start")
    return Window(start_at, end_at)


STALE_DAYS = 30
"""Data ending more than this many days before a report's as-of day is old data: every
member reads as lapsed and the last months are empty, so the report says so."""

AsOfBasis = Literal["end", "today", "data_end"]


@dataclass(frozen=True)
class AsOf:
    """The day a report is as of, why that day, and what an analyst should know."""

    day: date
    basis: AsOfBasis
    warnings: tuple[str, ...]


def as_of(start: date | None, end: date | None, today: date, data_end: date | None, *,
          follows_data: bool) -> AsOf:
    """The end date given, else today; else the data's last day, for old data.

    A report of recency (lapsed members, RFM, lifetime value, retention) on last
    year's data run today would read everyone as gone: with no end date given and
    data that ends over ``STALE_DAYS`` before today, such a report is as of the
    data's last day, which is what the analyst means. The others (points held,
    redemptions) stay as of today. Either way the report warns when the day it is
    as of comes long after the data ends.
    """
    if end is not None:
        day, basis = end, "end"
    elif (follows_data and data_end is not None and (today - data_end).days > STALE_DAYS
          and (start is None or start <= data_end)):
        gap = (today - data_end).days
        return AsOf(data_end, "data_end", (
            f"the data ends on {data_end}, {gap} days before today ({today}); no end date "
            f"was given, so this report is as of {data_end}, the last day with recorded "
            "activity (give an end date to choose another day)",))
    else:
        day, basis = today, "today"
    gap = (day - data_end).days if data_end is not None else 0
    if gap <= STALE_DAYS:
        return AsOf(day, basis, ())
    return AsOf(day, basis, (
        f"the data ends on {data_end}, {gap} days before {day}, the day this report is as "
        "of: figures after the data ends are empty and recency is measured from "
        f"{day}, so members read as lapsed",))


def month_start(day: date) -> date:
    return day.replace(day=1)


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


# --------------------------------------------------------------------------- bands

AGE_BANDS: tuple[tuple[int, str], ...] = (
    (0, "under 18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-54"),
    (55, "55-64"), (65, "65+"))
UNKNOWN = "unknown"

ORDER_COUNT_BANDS: tuple[tuple[int, str], ...] = (
    (1, "1"), (2, "2"), (3, "3"), (4, "4-5"), (6, "6-10"), (11, "11-20"), (21, "21+"))

CROWDED_TOP_BAND = 0.25
"""Frequent shoppers (a grocer's members buy 60 times a year) all land in the fixed bands'
top band: when more than this share of purchasers would, the bands follow the data."""
FREQUENCY_QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.9)

GAP_BANDS: tuple[tuple[int, str], ...] = (
    (0, "0-7 days"), (8, "8-14 days"), (15, "15-30 days"), (31, "31-60 days"),
    (61, "61-90 days"), (91, "91-180 days"), (181, "181-365 days"), (366, "over a year"))


def band_of(value: int | None, bands: Sequence[tuple[int, str]]) -> str:
    """The label of the band whose lower bound is the largest one <= value."""
    if value is None:
        return UNKNOWN
    lows = [low for low, _ in bands]
    index = bisect.bisect_right(lows, value) - 1
    return bands[max(index, 0)][1]


def bands_from(lows: Sequence[int]) -> tuple[tuple[int, str], ...]:
    """Bands from their lowest values (increasing, from 1 up): 1, 2-3, …, 52+."""
    lows = [1, *lows] if lows[0] > 1 else list(lows)
    labels = [str(low) if high - 1 == low else f"{low}-{high - 1}"
              for low, high in zip(lows, lows[1:])]
    return tuple(zip(lows, [*labels, f"{lows[-1]}+"]))


def frequency_bands(counts: Sequence[tuple[int, int]], given: Sequence[int] | None
                    ) -> tuple[tuple[tuple[int, str], ...], str]:
    """The bands orders per purchaser are folded into, and how they were drawn.

    The fixed bands suit a retailer whose members buy a few times a year. Where more
    than a quarter of purchasers would land in their top band, bands are drawn at
    quantiles of the data instead, so frequent shoppers spread over them.
    """
    if given:
        return bands_from(given), "given"
    purchasers = sum(n for _, n in counts)
    top = ORDER_COUNT_BANDS[-1][0]
    crowded = sum(n for orders, n in counts if orders >= top)
    if not purchasers or crowded <= purchasers * CROWDED_TOP_BAND:
        return ORDER_COUNT_BANDS, "default"
    return bands_from(sorted({1, *quantile_counts(counts, FREQUENCY_QUANTILES)})), "quantiles"


def quantile_counts(counts: Sequence[tuple[int, int]], quantiles: Sequence[float]
                    ) -> list[int]:
    """The order count below which each quantile of purchasers falls (lower value)."""
    ordered = sorted(counts)
    total = sum(n for _, n in ordered)
    found, seen, index = [], 0, 0
    for q in quantiles:
        while index < len(ordered) and seen + ordered[index][1] <= q * total:
            seen += ordered[index][1]
            index += 1
        found.append(ordered[min(index, len(ordered) - 1)][0])
    return found


def fold_bands(counts: Iterable[tuple[int | None, int]],
               bands: Sequence[tuple[int, str]], *, unknown: bool = False) -> list[tuple[str, int]]:
    """Sum ``(value, count)`` pairs into bands, every band listed (in order) even if 0."""
    totals = {label: 0 for _, label in bands}
    if unknown:
        totals[UNKNOWN] = 0
    for value, count in counts:
        label = band_of(value, bands)
        if label in totals:
            totals[label] += count
    return list(totals.items())


def histogram_quantile(histogram: Sequence[tuple[int, int]], q: float) -> float | None:
    """The q-quantile (nearest rank) of values given as sorted ``(value, count)`` pairs."""
    total = sum(count for _, count in histogram)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return float(value)
    return float(histogram[-1][0])


def histogram_mean(histogram: Sequence[tuple[int, int]]) -> float | None:
    total = sum(count for _, count in histogram)
    return sum(v * c for v, c in histogram) / total if total else None


def share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


# --------------------------------------------------------------------------- money

def points_value(points: int, point_value: Decimal, minor_exponent: int) -> int:
    """What ``points`` cost the program, in minor units, rounded once (half even)."""
    minor = Decimal(points) * point_value * (Decimal(10) ** minor_exponent)
    return int(minor.to_integral_value(rounding=ROUND_HALF_EVEN))


def to_minor(amount: float, minor_exponent: int) -> int:
    """A model's float estimate of money, rounded once into minor units."""
    return int(Decimal(repr(float(amount))).scaleb(minor_exponent)
               .to_integral_value(rounding=ROUND_HALF_EVEN))


def to_minor_all(amounts: Sequence[float] | np.ndarray, minor_exponent: int) -> list[int]:
    """``to_minor`` of each amount, the same integers, without a Decimal per amount.

    Scaled in floating point, an amount is within a few ulps of its decimal value, so
    it rounds the same way unless it lies next to a half: those (and anything not
    finite, which ``to_minor`` refuses) go through ``to_minor`` itself."""
    values = np.asarray(amounts, dtype=float)
    scaled = values * 10.0 ** minor_exponent
    with np.errstate(invalid="ignore"):
        fraction = scaled - np.floor(scaled)
        doubtful = ~np.isfinite(scaled) | (
            np.abs(fraction - 0.5) <= 1e-9 * np.maximum(1.0, np.abs(scaled)))
        doubtful |= np.abs(scaled) >= 2.0 ** 52
    rounded = np.where(doubtful, 0.0, np.rint(np.where(doubtful, 0.0, scaled)))
    result = rounded.astype(np.int64).tolist()
    for i in np.flatnonzero(doubtful).tolist():
        result[i] = to_minor(float(values[i]), minor_exponent)
    return result


# --------------------------------------------------------------------------- RFM

def quintile_scores(values: Sequence[float], *, higher_is_better: bool = True) -> list[int]:
    """Scores 1-5 by quintile of rank; equal values always get the same score.

    A member's score is 1 + ⌊5·(members strictly worse) / n⌋. Splitting ties at
    random (``qcut`` on ``rank(method="first")``) would give two members with the
    very same history different scores; here the quintiles are as even as the
    ties allow (many one-order members all score F = 1).
    """
    return _quintiles(np.asarray(values), higher_is_better=higher_is_better).tolist()


def _quintiles(values: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    n = len(values)
    if not n:
        return np.zeros(0, dtype=np.int64)
    keyed = values if higher_is_better else -values
    worse = np.searchsorted(np.sort(keyed), keyed, side="left")  # members strictly worse
    return 1 + (5 * worse.astype(np.int64)) // n


SEGMENTS: tuple[tuple[str, str], ...] = (
    ("Champions", "bought recently, buy often"),
    ("Loyal", "buy often, fairly recently"),
    ("Potential loyalists", "recent, a few orders"),
    ("New customers", "first order very recently"),
    ("Promising", "recent first order"),
    ("Need attention", "middling recency and frequency"),
    ("About to sleep", "not recent, few orders"),
    ("Can't lose them", "used to buy most often, long gone"),
    ("At risk", "bought often, not for a long time"),
    ("Hibernating", "few orders, long ago"),
)
SEGMENT_NAMES = tuple(name for name, _ in SEGMENTS)


def segment_of(r: int, f: int) -> str:
    """The named RFM segment of a recency and a frequency score (the usual R×F grid)."""
    if r <= 2:
        return "Hibernating" if f <= 2 else ("At risk" if f <= 4 else "Can't lose them")
    if r == 3:
        return "About to sleep" if f <= 2 else ("Need attention" if f == 3 else "Loyal")
    if f >= 4:
        return "Champions" if r == 5 else "Loyal"
    if f == 1:
        return "New customers" if r == 5 else "Promising"
    return "Potential loyalists"


@dataclass(frozen=True)
class RfmInput:
    member_id: int
    recency_days: int
    frequency: int
    monetary: int


@dataclass(frozen=True)
class RfmScore:
    member_id: int
    recency_days: int
    frequency: int
    monetary: int
    r: int
    f: int
    m: int
    segment: str

    @property
    def code(self) -> str:
        return f"{self.r}{self.f}{self.m}"


def score_rfm(members: Sequence[RfmInput]) -> list[RfmScore]:
    """Recency (fewer days is better), frequency and monetary quintile scores, named."""
    t = score_rfm_columns([m.member_id for m in members], [m.recency_days for m in members],
                          [m.frequency for m in members], [m.monetary for m in members])
    return [RfmScore(*row) for row in zip(t.member_id, t.recency_days, t.frequency,
                                          t.monetary, t.r, t.f, t.m, t.segment)]


@dataclass(frozen=True)
class RfmTable:
    """``score_rfm`` column by column, for many members at once: lists of plain values."""

    member_id: list[int]
    recency_days: list[int]
    frequency: list[int]
    monetary: list[int]
    r: list[int]
    f: list[int]
    m: list[int]
    segment: list[str]
    segment_index: np.ndarray
    """Position of each member's segment in ``SEGMENT_NAMES``."""

    def __len__(self) -> int:
        return len(self.member_id)

    @property
    def code(self) -> list[str]:
        return [f"{r}{f}{m}" for r, f, m in zip(self.r, self.f, self.m)]


_SEGMENT_GRID = np.array([SEGMENT_NAMES.index(segment_of(r, f))
                          for r in range(1, 6) for f in range(1, 6)])
"""The segment (its position in ``SEGMENT_NAMES``) of R×F, at ``5·(r-1) + (f-1)``."""


def score_rfm_columns(member_ids: Sequence[int] | np.ndarray,
                      recency_days: Sequence[int] | np.ndarray,
                      frequency: Sequence[int] | np.ndarray,
                      monetary: Sequence[int] | np.ndarray) -> RfmTable:
    """``score_rfm`` over columns: the same scores and segments."""
    ids, recency, freq, money = (np.asarray(c, dtype=np.int64)
                                 for c in (member_ids, recency_days, frequency, monetary))
    r = _quintiles(recency, higher_is_better=False)
    f, m = _quintiles(freq), _quintiles(money)
    index = _SEGMENT_GRID[5 * (r - 1) + (f - 1)] if len(ids) else np.zeros(0, dtype=np.int64)
    return RfmTable(ids.tolist(), recency.tolist(), freq.tolist(), money.tolist(), r.tolist(),
                    f.tolist(), m.tolist(), [SEGMENT_NAMES[i] for i in index.tolist()], index)


@dataclass(frozen=True)
class SegmentSize:
    segment: str
    description: str
    members: int
    share: float | None
    revenue: int
    average_recency_days: float | None
    average_frequency: float | None
    average_monetary: float | None


def segment_sizes(scores: Sequence[RfmScore] | RfmTable) -> list[SegmentSize]:
    """Every named segment, in a fixed order, with its size and averages."""
    if not isinstance(scores, RfmTable):
        scores = score_table(scores)
    index = scores.segment_index
    columns = [np.asarray(c, dtype=np.int64)
               for c in (scores.monetary, scores.recency_days, scores.frequency)]
    result = []
    for k, (name, description) in enumerate(SEGMENTS):
        mask = index == k
        n = int(mask.sum())
        revenue, recency, freq = (int(c[mask].sum()) for c in columns)
        result.append(SegmentSize(
            name, description, n, share(n, len(scores)), revenue,
            round(recency / n, 2) if n else None,
            round(freq / n, 3) if n else None,
            round(revenue / n, 2) if n else None))
    return result


def score_table(scores: Sequence[RfmScore]) -> RfmTable:
    """Scores already made, as columns."""
    return RfmTable([s.member_id for s in scores], [s.recency_days for s in scores],
                    [s.frequency for s in scores], [s.monetary for s in scores],
                    [s.r for s in scores], [s.f for s in scores], [s.m for s in scores],
                    [s.segment for s in scores],
                    np.array([SEGMENT_NAMES.index(s.segment) for s in scores], dtype=np.int64))


# --------------------------------------------------------------------------- cohorts

@dataclass(frozen=True)
class CohortRow:
    cohort: date
    members: int
    active: list[int]
    retention: list[float | None]


def cohort_matrix(sizes: Mapping[date, int], active: Iterable[tuple[date, int, int]],
                  last_month: date) -> list[CohortRow]:
    """Shape ``(cohort month, months since join, active members)`` into a triangle.

    Row c has one cell per month from the join month to ``last_month``: months
    that have not happened yet are left out rather than shown as 0 % retention.
    """
    counts: dict[tuple[date, int], int] = {}
    for cohort, offset, n in active:
        counts[(cohort, offset)] = counts.get((cohort, offset), 0) + n
    rows = []
    for cohort in sorted(sizes):
        span = months_between(cohort, last_month) + 1
        if span <= 0:
            continue
        cells = [counts.get((cohort, k), 0) for k in range(span)]
        rows.append(CohortRow(cohort, sizes[cohort], cells,
                              [share(c, sizes[cohort]) for c in cells]))
    return rows


# --------------------------------------------------------------------------- shaping

def average_minor(total: int, count: int) -> int | None:
    """An average of money, rounded once (half even) into minor units."""
    if not count:
        return None
    return int((Decimal(total) / Decimal(count)).to_integral_value(rounding=ROUND_HALF_EVEN))


def monthly_growth(before: int, joins: Sequence[tuple[date, int]], first: date | None,
                   last: date) -> list[tuple[date, int, int]]:
    """``(month, new members, members so far)`` for every month, none skipped."""
    counts = dict(joins)
    month = month_start(first) if first else (min(counts) if counts else month_start(last))
    total, rows = before, []
    while month <= month_start(last):
        total += counts.get(month, 0)
        rows.append((month, counts.get(month, 0), total))
        month = add_months(month, 1)
    return rows


def top_share(deciles: Sequence[tuple[int, int]], revenue: int, tenths: int = 2) -> float | None:
    """Share of revenue from the top ``tenths`` deciles of ``(decile, revenue)`` pairs."""
    return share(sum(r for d, r in deciles if d <= tenths), revenue)


def net_points(issued: int, spent: int, expired: int, reversed_: int, adjusted: int) -> int:
    """What a month added to the points members hold."""
    return issued - spent - expired - reversed_ + adjusted


def breakage_rate(cohorts: Sequence[tuple[int, int, bool]]) -> tuple[float | None, int]:
    """Expired / issued over earn cohorts that are closed, from ``(issued, expired, closed)``.

    An open cohort still has points that may yet be spent or expire, so counting
    it would understate breakage; until one closes there is no rate to report.
    """
    closed = [(issued, expired) for issued, expired, is_closed in cohorts if is_closed]
    issued = sum(i for i, _ in closed)
    return (share(sum(e for _, e in closed), issued) if issued else None), len(closed)


def weighted_retention(rows: Sequence[CohortRow], month: int) -> float | None:
    """Retention ``month`` months after joining, over cohorts old enough to show it."""
    seen = [(row.active[month], row.members) for row in rows if len(row.active) > month]
    return share(sum(a for a, _ in seen), sum(m for _, m in seen))


@dataclass(frozen=True)
class PurchaseRhythm:
    purchasers: int
    orders: int
    orders_per_purchaser: float | None
    repeat_rate: float | None
    intervals: int
    mean_days_between: float | None
    p25_days_between: float | None
    median_days_between: float | None
    p75_days_between: float | None
    p90_days_between: float | None


def purchase_rhythm(orders_per_member: Sequence[tuple[int, int]],
                    gaps: Sequence[tuple[int, int]]) -> PurchaseRhythm:
    """How often purchasers buy, from ``(orders, members)`` and ``(gap days, count)``."""
    purchasers = sum(n for _, n in orders_per_member)
    orders = sum(k * n for k, n in orders_per_member)
    mean = histogram_mean(gaps)
    return PurchaseRhythm(
        purchasers, orders, round(orders / purchasers, 4) if purchasers else None,
        share(sum(n for k, n in orders_per_member if k >= 2), purchasers),
        sum(n for _, n in gaps), round(mean, 2) if mean is not None else None,
        *(histogram_quantile(gaps, q) for q in (0.25, 0.5, 0.75, 0.9)))
