"""Caps per event, per member and period, and rule budgets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from patron.program.compiled import compile_program
from patron.program.context import PeriodUsage, UsageSnapshot, period_bounds, period_key
from tests.program.factories import T0, History, earn, event, line, program, purchase, rule


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_per_event_cap_is_named_in_the_explanation():
    document = program(rule("spend", name="1 point per $1", points={"per_currency_unit": "1"},
                            limits={"per_event": 500}))
    evaluation = earn(document, purchase(line("TV", 100_000)))
    assert evaluation.total_points == 500
    assert evaluation.totals[0].capped_by == "per_event"
    assert evaluation.explanations() == ["1 point per $1: +500 (capped: at most 500 per event)"]


def test_capped_award_is_still_attributed_to_lines_in_proportion():
    document = program(rule("spend", points={"per_currency_unit": "1"},
                            limits={"per_member": {"day": {"points": 30}}}))
    used_today = UsageSnapshot(member={("spend", "day"): PeriodUsage(points=20, awards=1)})
    evaluation = earn(document, purchase(line("A", 2000), line("B", 2000)), usage=used_today)
    assert [(a.line_index, a.points) for a in evaluation.awards] == [(0, 5), (1, 5)]
    assert all(a.capped_by == "per_member.day.points" for a in evaluation.awards)


def test_weekly_award_limit_follows_local_iso_weeks():
    document = program(rule("share", on="social_share", points={"fixed": 5},
                            limits={"per_member": {"week": {"awards": 2}}}))
    history = History(document)
    shares = [utc(2025, 3, 15, 15), utc(2025, 3, 16, 15),  # Sat, Sun
              utc(2025, 3, 17, 3, 30),                     # Sun 23:30 in New York
              utc(2025, 3, 17, 4, 30)]                     # Mon 00:30: a new week
    assert [e.total_points for e in history.earn_all(event("social_share", t) for t in shares)] \
        == [5, 5, 0, 5]


def test_lifetime_points_limit():
    document = program(rule("referral", on="referral", points={"fixed": 200},
                            limits={"per_member": {"lifetime": {"points": 500}}}))
    history = History(document)
    results = history.earn_all(event("referral", T0 + timedelta(days=40 * i)) for i in range(4))
    assert [e.total_points for e in results] == [200, 200, 100, 0]
    assert results[2].totals[0].capped_by == "per_member.lifetime.points"
    assert results[3].notes[0].message == (
        "Referral: at most 500 points in total, nothing awarded")


def test_budget_stops_the_rule_and_says_so():
    document = program(rule("promo", name="Spring promo", on="check_in", points={"fixed": 100},
                            limits={"budget": 250}))
    history = History(document)
    results = history.earn_all(event("check_in", T0 + timedelta(hours=i)) for i in range(4))
    assert [e.total_points for e in results] == [100, 100, 50, 0]
    assert results[2].totals[0].capped_by == "budget"
    assert [(n.code, n.message) for n in results[3].notes] == [
        ("budget_exhausted", "Spring promo: the promotion's points budget is used up, "
                             "nothing awarded")]


def test_tightest_limit_wins():
    document = program(rule("spend", points={"per_currency_unit": "1"}, limits={
        "per_event": 80, "per_member": {"month": {"points": 300}}, "budget": 1000}))
    usage = UsageSnapshot(member={("spend", "month"): PeriodUsage(250, 5)},
                          budget={"spend": 990})
    evaluation = earn(document, purchase(line("A", 10_000)), usage=usage)
    assert (evaluation.total_points, evaluation.totals[0].capped_by) == (10, "budget")


@pytest.mark.parametrize(("period", "start", "end"), [
    ("day", utc(2025, 3, 14, 4), utc(2025, 3, 15, 4)),
    ("week", utc(2025, 3, 10, 4), utc(2025, 3, 17, 4)),
    ("month", utc(2025, 3, 1, 5), utc(2025, 4, 1, 4)),    # DST starts on 9 March
    ("year", utc(2025, 1, 1, 5), utc(2026, 1, 1, 5)),
    ("lifetime", None, None),
])
def test_period_bounds_are_local_calendar_periods(period, start, end):
    assert period_bounds(period, T0, ZoneInfo("America/New_York")) == (start, end)


def test_period_keys_name_local_periods():
    local = T0.astimezone(ZoneInfo("America/New_York"))
    assert [period_key(p, local) for p in ("day", "week", "month", "year", "lifetime")] == [
        "2025-03-14", "2025-W11", "2025-03", "2025", "lifetime"]


def test_plan_says_which_usage_a_service_must_read():
    document = program(
        rule("review", on="review", limits={"per_member": {"month": {"awards": 5},
                                                         "day": {"points": 40}}}),
        rule("photo", on="review", limits={"budget": 1000}),
        rule("spend", points={"per_currency_unit": "1"}))
    plan = compile_program(document).plan("review")
    assert plan.usage_keys() == (("review", "day"), ("review", "month"))
    assert plan.budgeted_rules() == ("photo",)
