"""Tier arithmetic as pure functions: windows, upgrades, reviews, the effective tier.

How a tier moves
----------------
- **Up, at once.** After every event that adds to the qualification metric, the
  metric over the member's current window (see ``window``) is compared with the
  ladder; reaching a higher threshold upgrades the member inside that event.
- **Secured.** A tier reached in a period is kept to the end of the *next* period
  (calendar or membership year), or for N months after reaching it (rolling
  window). That moment is ``secured_until``.
- **Down, only at review.** When ``secured_until + grace_days`` has passed, the
  review compares the metric of the period that ended at ``secured_until`` (and
  of the current window, so a member who requalified during grace keeps the
  tier) with the ladder. Keeping the tier secures it for another period;
  missing it moves the member down to the level they did reach, but by at most
  ``max_drop`` levels per review.
- **Returns** lower the metric. They move a member down at the next review, or
  at once when ``returns_downgrade_immediately`` is set and the tier was reached
  in the current period.
- **Late events.** An event counts in the window it occurred in, and is judged
  as of its own time (``upgrade``): the metric of that window with it, and the
  ``secured_until`` that reaching a level then gives. It upgrades the member
  today only if that tier would still be secured now. A purchase at 23:59 on
  31 December that a till sends after midnight (or weeks later) still makes a
  calendar-year member Gold until the end of the next year, as it would have
  on time; one from years ago gives a tier whose secured period is already
  over, so it moves no one (that period's review, if still to come, counts
  it). An upgrade is dated at its event, or at the member's latest move if that
  came later, so a member's moves stay in time order. A return moves a member
  down at once only through the window running today (``counts_today``).
- **Effective tier.** A manual tier set by an admin replaces the earned tier
  until its end date (never a silent permanent floor). An active paid plan's
  ``tier_floor`` then lifts the result to at least that level.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from patron.program.membership import Tiers

METRIC_KINDS = {"tier_points": "tier_points", "qualifying_spend": "spend", "orders": "orders"}
"""The program's metric name → the ``qualification_entries.metric`` it sums."""

ONE_TICK = timedelta(microseconds=1)


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(day.day, last))


def shift_months(at: datetime, months: int, zone: ZoneInfo) -> datetime:
    """The same local wall time ``months`` later (or earlier), clamped to month ends."""
    local = at.astimezone(zone)
    day = _add_months(local.date(), months)
    moved = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
    return moved.astimezone(timezone.utc)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(timezone.utc)


def window(tiers: Tiers, at: datetime, zone: ZoneInfo, joined: datetime
           ) -> tuple[datetime, datetime]:
    """[start, end) of the qualification window that counts at ``at``."""
    spec = tiers.window
    if spec.type == "rolling_months":
        return shift_months(at, -spec.months, zone), at + timedelta(microseconds=1)
    local = at.astimezone(zone).date()
    if spec.type == "calendar_year":
        return (_local_midnight(date(local.year, 1, 1), zone),
                _local_midnight(date(local.year + 1, 1, 1), zone))
    start = joined
    years = 0
    while shift_months(joined, 12 * (years + 1), zone) <= at:
        years += 1
    start = shift_months(joined, 12 * years, zone)
    return start, shift_months(joined, 12 * (years + 1), zone)


def period_length_months(tiers: Tiers) -> int:
    return tiers.window.months if tiers.window.type == "rolling_months" else 12


def secured_until(tiers: Tiers, reached_at: datetime, zone: ZoneInfo,
                  joined: datetime) -> datetime:
    """Until when a tier reached at ``reached_at`` is kept without qualifying again."""
    if tiers.window.type == "rolling_months":
        return shift_months(reached_at, tiers.window.months, zone)
    _, end = window(tiers, reached_at, zone, joined)
    return shift_months(end, 12, zone)


def next_secured(tiers: Tiers, previous: datetime, zone: ZoneInfo) -> datetime:
    """One more period after ``previous`` (a review that keeps or sets a tier)."""
    return shift_months(previous, period_length_months(tiers), zone)


def review_due(tiers: Tiers, secured: datetime | None, now: datetime) -> bool:
    return secured is not None and now >= secured + timedelta(days=tiers.grace_days)


@dataclass(frozen=True)
class Review:
    to_index: int
    kind: str  # retained | downgrade
    secured_until: datetime | None


def review(tiers: Tiers, current: int, ended_metric: int, current_metric: int,
           secured: datetime, zone: ZoneInfo) -> Review:
    """The outcome of a review of a member at ``current`` whose secured period ended."""
    reached = max(tiers.qualified(ended_metric), tiers.qualified(current_metric))
    if reached >= current:
        return Review(reached, "retained", next_secured(tiers, secured, zone))
    to = max(reached, current - tiers.max_drop)
    return Review(to, "downgrade", next_secured(tiers, secured, zone) if to > 0 else None)


def counts_today(tiers: Tiers, at: datetime, now: datetime, zone: ZoneInfo,
                 joined: datetime) -> bool:
    """Whether an event at ``at`` counts in the qualification window running at ``now``
    (the metric a member sees today includes it), so a return of it may move their tier
    down at once."""
    return at >= window(tiers, now, zone, joined)[0]


def earned_at(moves: Sequence[tuple[datetime, str]], at: datetime, base: str) -> str:
    """The earned tier at ``at``: that of the last move at or before it (``moves`` in
    time order); the first level before any."""
    index = bisect_right([moved for moved, _ in moves], at)
    return moves[index - 1][1] if index else base


def _value(entries: Sequence[tuple[datetime, int]], start: datetime, end: datetime) -> int:
    return sum(amount for at, amount in entries if start <= at < end)


@dataclass(frozen=True)
class Upgrade:
    to_index: int
    value: int
    """The metric of the event's window that reached the level."""
    secured_until: datetime


def upgrade(tiers: Tiers, entries: Sequence[tuple[datetime, int]], at: datetime,
            now: datetime, zone: ZoneInfo, joined: datetime, current: int) -> Upgrade | None:
    """The upgrade an event at ``at`` gives today a member at level ``current``, if any.

    The event is judged as of its own time, as if it had arrived then: the metric of
    its window (``entries`` including it) and the tier kept from reaching a level at
    ``at``. A late event may so lift a member only to a tier still secured at ``now``:
    one whose secured period is over would have been reviewed away already.
    """
    value = _value(entries, *window(tiers, at, zone, joined))
    reached = tiers.qualified(value)
    if reached <= current:
        return None
    secured = secured_until(tiers, at, zone, joined)
    return Upgrade(reached, value, secured) if secured > now else None


def secured_level(tiers: Tiers, entries: Sequence[tuple[datetime, int]], now: datetime,
                  zone: ZoneInfo, joined: datetime) -> tuple[int, datetime | None]:
    """The level ``entries`` secure at ``now`` and until when: reached in the running
    window (secured as if reached now), or in the period before it, which a calendar or
    membership year keeps to the end of the running one. A member placed anew (joining or
    leaving a household) gets what their metric would have kept them at."""
    start, end = window(tiers, now, zone, joined)
    level = tiers.qualified(_value(entries, start, end))
    secured = secured_until(tiers, now, zone, joined) if level else None
    if tiers.window.type != "rolling_months":
        before = start - ONE_TICK
        earlier = window(tiers, before, zone, joined)
        if earlier[0] <= before and (reached := tiers.qualified(_value(entries, *earlier))) \
                > level:
            level, secured = reached, end
    return level, secured


def effective(tiers: Tiers, earned: str, manual: str | None, manual_until: datetime | None,
              floor: str | None, at: datetime) -> tuple[str, str]:
    """(tier id, source): manual while it lasts, else earned; lifted to a plan's floor."""
    tier, source = earned, "earned"
    if manual is not None and manual_until is not None and at < manual_until:
        tier, source = manual, "manual"
    if floor is not None and tiers.index(floor) > tiers.index(tier):
        tier, source = floor, "membership"
    return tier, source

