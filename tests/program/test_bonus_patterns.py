"""The bonus patterns marketers ask for, on the Demo Coffee program (America/New_York)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tests.program.factories import T0, History, by_rule, demo, earn, event, line, member, purchase


@pytest.fixture(scope="module")
def coffee():
    return demo()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_one_bean_per_dollar_rounds_down(coffee):
    evaluation = earn(coffee, purchase(line("LATTE", 450)), member(purchases=3))
    assert by_rule(evaluation) == {"base_spend": 4}
    assert evaluation.explanations() == ["1 Bean per $1: +4"]
    assert all(award.pending for award in evaluation.awards)  # inside the 14-day return window


def test_first_purchase_bonus_only_on_the_first_order(coffee):
    first = earn(coffee, purchase(line("LATTE", 450)), member(purchases=0))
    later = earn(coffee, purchase(line("LATTE", 450)), member(purchases=1))
    assert by_rule(first) == {"base_spend": 4, "first_purchase": 50}
    assert "Welcome bonus on your first order: +50" in first.explanations()
    assert by_rule(later) == {"base_spend": 4}


@pytest.mark.parametrize(("total", "bonus"), [(5000, 100), (4999, None), (12000, 100)])
def test_spend_threshold_bonus_needs_the_order_to_reach_it(coffee, total, bonus):
    evaluation = earn(coffee, purchase(line("GRINDER", total, "gear")), member(purchases=2))
    assert by_rule(evaluation).get("big_order") == bonus


def test_threshold_bonus_is_order_level_and_remembers_its_threshold(coffee):
    evaluation = earn(coffee, purchase(line("GRINDER", 6000, "gear")), member(purchases=2))
    bonus = [a for a in evaluation.awards if a.rule_id == "big_order"]
    assert [(a.points, a.line_index, a.min_spend) for a in bonus] == [(100, None, 5000)]


def test_birthday_month_doubles_spend_points(coffee):
    march_birthday = member(purchases=2, birthdate=date(1990, 3, 20))
    evaluation = earn(coffee, purchase(line("LATTE", 1200)), march_birthday)
    assert by_rule(evaluation) == {"base_spend": 12, "birthday_double": 12}
    assert "Birthday month double Beans: +12" in evaluation.explanations()


@pytest.mark.parametrize(("at", "doubled"), [
    (utc(2025, 4, 1, 3, 0), True),    # 31 Mar, 23:00 in New York: still March there
    (utc(2025, 4, 1, 5, 0), False),   # 1 Apr, 01:00 in New York
])
def test_birthday_month_is_judged_in_the_program_timezone(coffee, at, doubled):
    evaluation = earn(coffee, purchase(line("LATTE", 1200), at=at),
                      member(purchases=2, birthdate=date(1990, 3, 2)))
    assert ("birthday_double" in by_rule(evaluation)) is doubled


def test_birthday_bonus_needs_a_known_birthdate(coffee):
    evaluation = earn(coffee, purchase(line("LATTE", 1200)), member(purchases=2))
    assert "birthday_double" not in by_rule(evaluation)


def test_double_points_on_beans_only_on_bean_lines(coffee):
    order = purchase(line("BEANS-1KG", 2450, "beans"), line("MUG", 3600, "gear"))
    evaluation = earn(coffee, order, member(purchases=2))
    assert by_rule(evaluation) == {"base_spend": 60, "big_order": 100, "beans_double": 24,
                                   "mug_with_big_order": 1}
    promo = [a for a in evaluation.awards if a.rule_id == "beans_double"]
    assert [(a.line_index, a.points) for a in promo] == [(0, 24)]
    assert "2× Beans on coffee beans, 12–18 Mar: +24" in evaluation.explanations()


@pytest.mark.parametrize(("at", "doubled"), [
    (utc(2025, 3, 12, 3, 30), False),  # 11 Mar, 23:30 local: not yet
    (utc(2025, 3, 12, 4, 30), True),   # 12 Mar, 00:30 local: first day
    (utc(2025, 3, 19, 3, 30), True),   # 18 Mar, 23:30 local: last day is inclusive
    (utc(2025, 3, 19, 4, 30), False),  # 19 Mar, 00:30 local: over
])
def test_beans_promotion_runs_on_local_dates(coffee, at, doubled):
    evaluation = earn(coffee, purchase(line("BEANS-1KG", 2000, "beans"), at=at),
                      member(purchases=2))
    assert ("beans_double" in by_rule(evaluation)) is doubled


def test_review_points_capped_at_five_a_month(coffee):
    history = History(coffee)
    march = [event("review", T0 + timedelta(days=i), text_length=80, rating=5)
             for i in range(6)]
    results = history.earn_all(march)
    assert [e.total_points for e in results] == [20, 20, 20, 20, 20, 0]
    assert [(n.code, n.message) for n in results[-1].notes] == [
        ("limit_reached", "Thanks for your review: limit of 5 per month reached, "
                          "nothing awarded")]
    april = history.earn(event("review", utc(2025, 4, 1, 12), text_length=80))
    assert april.total_points == 20


def test_review_cap_counts_the_local_month(coffee):
    history = History(coffee)
    history.earn_all(event("review", utc(2025, 3, 20 + i, 12), text_length=80) for i in range(5))
    late_march_local = history.earn(event("review", utc(2025, 4, 1, 2), text_length=80))
    assert late_march_local.total_points == 0


def test_short_reviews_earn_nothing(coffee):
    assert earn(coffee, event("review", text_length=5)).total_points == 0


def test_sign_up_bonus_once_per_member(coffee):
    history = History(coffee)
    first = history.earn(event("sign_up"))
    again = history.earn(event("sign_up", T0 + timedelta(days=40)))
    assert (first.total_points, again.total_points) == (100, 0)
    assert first.awards[0].pending is False  # behaviour points are spendable at once


def test_check_in_once_a_day(coffee):
    history = History(coffee)
    morning = history.earn(event("check_in", utc(2025, 3, 14, 13), location_id="nyc-1"))
    evening = history.earn(event("check_in", utc(2025, 3, 14, 23), location_id="nyc-2"))
    next_day = history.earn(event("check_in", utc(2025, 3, 15, 13), location_id="nyc-1"))
    assert [morning.total_points, evening.total_points, next_day.total_points] == [5, 0, 5]


def test_reusable_cup_points_capped_per_day(coffee):
    history = History(coffee)
    cups = [event("eco_action", T0 + timedelta(minutes=i), action="reusable_cup", cup_size="L")
            for i in range(3)]
    assert [e.total_points for e in history.earn_all(cups)] == [10, 10, 0]
    other = history.earn(event("eco_action", T0, action="bag_recycling"))
    assert other.total_points == 0


def test_all_bonuses_together_explain_themselves(coffee):
    order = purchase(line("BEANS-1KG", 2450, "beans"), line("MUG", 3600, "gear"))
    evaluation = earn(coffee, order, member(purchases=0, birthdate=date(1988, 3, 30)))
    assert evaluation.explanations() == [
        "1 Bean per $1: +60",
        "Welcome bonus on your first order: +50",
        "100 bonus Beans on orders of $50 or more: +100",
        "Birthday month double Beans: +60",
        "2× Beans on coffee beans, 12–18 Mar: +24",
        "A free Demo Coffee mug with your first order of $50 or more: Demo Coffee mug",
    ]
    assert evaluation.total_points == 294
    assert sum(a.points for a in evaluation.awards if a.kind != "gift") == 294
