"""Pure tier arithmetic for late events and household moves, without a database."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from patron.program.membership import Tiers
from patron.tiers import domain

UTC = ZoneInfo("UTC")
LEVELS = [{"id": "member", "name": "Member", "threshold": 0},
          {"id": "silver", "name": "Silver", "threshold": 100},
          {"id": "gold", "name": "Gold", "threshold": 500}]


def tiers(window: dict) -> Tiers:
    return Tiers.model_validate({"metric": "qualifying_spend", "window": window,
                                 "levels": LEVELS})


def day(year: int, month: int, dd: int) -> datetime:
    return datetime(year, month, dd, tzinfo=timezone.utc)


CALENDAR = tiers({"type": "calendar_year"})
ROLLING = tiers({"type": "rolling_months", "months": 12})
JOINED = day(2025, 5, 1)


def test_only_an_event_of_the_running_window_counts_today():
    now = day(2027, 3, 1)
    assert domain.counts_today(CALENDAR, day(2027, 1, 2), now, UTC, JOINED)
    assert not domain.counts_today(CALENDAR, day(2026, 12, 31), now, UTC, JOINED)
    assert domain.counts_today(ROLLING, day(2026, 3, 2), now, UTC, JOINED)
    assert not domain.counts_today(ROLLING, day(2026, 2, 28), now, UTC, JOINED)


def test_the_earned_tier_at_an_instant_is_the_last_move_at_or_before_it():
    moves = [(day(2026, 3, 1), "gold"), (day(2028, 1, 31), "silver")]
    assert domain.earned_at(moves, day(2026, 2, 1), "member") == "member"
    assert domain.earned_at(moves, day(2026, 3, 1), "member") == "gold"
    assert domain.earned_at(moves, day(2027, 6, 1), "member") == "gold"
    assert domain.earned_at(moves, day(2028, 3, 1), "member") == "silver"


def test_a_metric_secures_the_running_period_or_keeps_last_periods_level():
    now = day(2027, 3, 1)
    assert domain.secured_level(CALENDAR, [(day(2027, 2, 1), 150)], now, UTC, JOINED) == (
        1, day(2029, 1, 1))
    assert domain.secured_level(CALENDAR, [(day(2026, 6, 1), 600), (day(2027, 2, 1), 150)],
                                now, UTC, JOINED) == (2, day(2028, 1, 1))
    assert domain.secured_level(CALENDAR, [(day(2025, 6, 1), 600)], now, UTC, JOINED) == (
        0, None)
    assert domain.secured_level(ROLLING, [(day(2026, 6, 1), 600)], now, UTC, JOINED) == (
        2, day(2028, 3, 1))


def test_a_first_membership_year_has_no_period_before_it():
    first_year = tiers({"type": "membership_year"})
    joined = day(2027, 1, 15)
    assert domain.secured_level(first_year, [(day(2027, 2, 1), 150)], day(2027, 3, 1), UTC,
                                joined) == (1, day(2029, 1, 15))


def test_a_late_event_upgrades_today_to_a_tier_it_still_secures():
    eve = datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc)
    entries = [(day(2026, 6, 1), 450), (eve, 100), (day(2027, 1, 1), 300)]
    for now in (datetime(2027, 1, 1, 0, 1, tzinfo=timezone.utc), day(2027, 1, 21)):
        assert domain.upgrade(CALENDAR, entries, eve, now, UTC, JOINED, 1) == domain.Upgrade(
            2, 550, day(2028, 1, 1))  # its own year's metric, kept to the end of the next
    assert domain.upgrade(CALENDAR, entries, eve, day(2028, 1, 2), UTC, JOINED, 1) is None
    assert domain.upgrade(CALENDAR, entries, eve, day(2027, 1, 2), UTC, JOINED, 2) is None


def test_a_late_event_of_a_rolling_window_counts_what_came_before_it():
    entries = [(day(2026, 1, 15), 450), (day(2026, 3, 10), 100), (day(2026, 4, 1), 600)]
    assert domain.upgrade(ROLLING, entries, day(2026, 3, 10), day(2027, 3, 1), UTC, JOINED,
                          0) == domain.Upgrade(2, 550, day(2027, 3, 10))
    assert domain.upgrade(ROLLING, entries, day(2026, 3, 10), day(2027, 3, 10), UTC, JOINED,
                          0) is None  # secured until the very moment it is processed
    assert domain.upgrade(ROLLING, entries[:2], day(2026, 1, 15), day(2026, 6, 1), UTC,
                          JOINED, 0) == domain.Upgrade(1, 450, day(2027, 1, 15))
