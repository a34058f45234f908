"""Simulation: replaying history through a draft program reports what it would cost."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from patron.program.context import MemberProfile
from patron.program.document import ProgramDocument
from patron.program.money import points_value_minor
from patron.program.simulate import Simulator
from patron.program.standing import NO_STANDING, Standing
from patron.program.validate import load_document
from tests.program.benchmark import measure

BASIC = Path(__file__).with_name("coffee_basic.yaml")

ALICE, CAROL = {"id": 1}, {"id": 3}
BOB = {"identity": {"type": "email", "value": " Bob@Example.com "}}


def half_cent_demo() -> ProgramDocument:
    data = load_document(BASIC.read_text())
    data["settings"]["point_value_minor"] = "0.5"
    return ProgramDocument.model_validate(data)


def ev(event_id: str, event_type: str, who: dict, at: str, **data) -> dict:
    return {"id": event_id, "type": event_type, "member": who, "occurred_at": at,
            "channel": "web", "data": data}


HISTORY = [
    ev("e1", "sign_up", ALICE, "2025-03-10T15:00:00Z"),
    ev("e2", "purchase", ALICE, "2025-03-14T15:00:00Z", order_id="A1", currency="USD",
       total=8500, lines=[{"sku": "BEANS-1KG", "category": "beans", "quantity": 2,
                           "amount": 4900},
                          {"sku": "MUG", "category": "gear", "amount": 3600}]),
    ev("e3", "purchase", BOB, "2025-03-15T15:00:00Z", order_id="B1", currency="USD",
       total=450, lines=[{"sku": "LATTE", "amount": 450}]),
    ev("e4", "review", CAROL, "2025-03-15T16:00:00Z", text_length=5),
    ev("e5", "return", ALICE, "2025-03-16T15:00:00Z", order_id="A1",
       lines=[{"line_index": 1}]),
    ev("e6", "dance", CAROL, "2025-03-16T16:00:00Z"),
    ev("e7", "purchase", {"id": 4}, "2025-03-16T17:00:00", order_id="D1", total=100),
    ev("e8", "check_in", BOB, "2025-03-17T14:00:00Z"),
    ev("e9", "check_in", BOB, "2025-03-17T18:00:00Z"),
    ev("e10", "review", BOB, "2025-03-17T19:00:00Z", text_length=50),
    ev("e11", "return", BOB, "2025-03-18T19:00:00Z", order_id="never-bought"),
]


@pytest.fixture(scope="module")
def report():
    progress: list[int] = []
    simulator = Simulator(half_cent_demo(), profiles={"id:1": MemberProfile(
        birthdate=date(1990, 3, 5))}, top_n=3, progress=progress.append, progress_every=3)
    result = simulator.run(HISTORY)
    result.progress_calls = progress
    return result


def test_points_per_rule_including_clawbacks(report):
    figures = {r.rule_id: (r.points_issued, r.points_clawed_back, r.members_affected)
               for r in report.rules}
    assert figures == {
        "base_spend": (89, 36, 2), "first_purchase": (100, 0, 2), "big_order": (100, 100, 1),
        "birthday_double": (85, 36, 1), "beans_double": (49, 0, 1), "sign_up": (100, 0, 1),
        "review": (20, 0, 1), "check_in": (5, 0, 1), "reusable_cup": (0, 0, 0),
        "mug_with_big_order": (1, 1, 1)}  # units of the gift, not points
    assert (report.points_issued, report.points_clawed_back, report.net_points) == (548, 172, 376)


def test_money_cost_uses_the_point_value(report):
    costs = {r.rule_id: r.cost_minor for r in report.rules}
    assert costs["base_spend"] == 27   # 53 net points at half a cent, rounded half up
    assert costs["first_purchase"] == 50
    assert report.cost_minor == 188 and report.currency == "USD"
    assert report.point_value_minor == Decimal("0.5")


def test_limits_hit_are_counted(report):
    check_in = next(r for r in report.rules if r.rule_id == "check_in")
    assert (check_in.awards, check_in.limit_reached) == (1, 1)


def test_members_affected_and_members_earning_nothing(report):
    assert report.members_seen == 3   # one customer by email, however it was typed
    assert report.members_earning_nothing == 1
    assert report.members_earning_nothing_sample == ["id:3"]


def test_largest_single_awards(report):
    assert [(a.points, a.rule_id, a.member, a.event_id) for a in report.largest_awards] == [
        (100, "sign_up", "id:1", "e1"), (100, "big_order", "id:1", "e2"),
        (85, "base_spend", "id:1", "e2")]


def test_bad_and_unknown_events_are_skipped_and_counted(report):
    assert (report.events_read, report.events_evaluated) == (11, 8)
    assert report.events_skipped == {"unknown_event_type": 1, "invalid_event": 1,
                                     "return_of_unknown_order": 1}


def test_progress_is_reported(report):
    assert report.progress_calls == [3, 6, 9, 11]


def test_point_cost_rounds_half_up_in_minor_units():
    assert points_value_minor(5, Decimal("0.5")) == 3
    assert points_value_minor(-5, Decimal("0.5")) == -3
    assert points_value_minor(1000, Decimal("1.25")) == 1250


@pytest.mark.slow
def test_simulation_is_fast_enough_for_a_million_events_in_minutes():
    report, per_cpu_second, _ = measure(20_000)
    assert report.events_evaluated > 19_000
    assert per_cpu_second > 3_000, f"{per_cpu_second:.0f} events/s"  # 1M in under 6 minutes


# --- tiers and paid plans, as recorded --------------------------------------------------------

UTC = timezone.utc
GOLD_FROM = datetime(2025, 3, 10, tzinfo=UTC)
PLUS_FROM, PLUS_UNTIL = datetime(2025, 3, 11, tzinfo=UTC), datetime(2025, 3, 15, tzinfo=UTC)
TIER_BONUS = {"id": "tier_bonus", "name": "Tier multiplier", "on": "purchase",
              "points": {"benefit_multiplier": "tier", "of": ["base"]}}
PLUS_BONUS = {"id": "plus_bonus", "name": "Plus multiplier", "on": "purchase",
              "points": {"benefit_multiplier": "membership", "of": ["base"]}}
GOLD_TREAT = {"id": "gold_treat", "name": "Gold treat", "on": "purchase",
              "when": "member.tier == 'gold'", "points": {"fixed": 7}}


def tiered(gold_multiplier: str | None = "2", plan: str = "plus") -> ProgramDocument:
    levels = [{"id": "member", "name": "Member", "threshold": 0},
              {"id": "silver", "name": "Silver", "threshold": 100_00}]
    if gold_multiplier is not None:
        levels.append({"id": "gold", "name": "Gold", "threshold": 500_00,
                       "benefits": {"earn_multiplier": gold_multiplier}})
    return ProgramDocument.model_validate({
        "name": "Tiered", "settings": {"currency": "USD", "point_value_minor": "1"},
        "tiers": {"metric": "qualifying_spend", "levels": levels},
        "memberships": [{"id": plan, "name": "Plus", "price": 4900, "benefits": {
            "earn_multiplier": "3", "tier_floor": "silver"}}],
        "earn_rules": [{"id": "base", "name": "1 point per $1", "on": "purchase",
                        "points": {"per_currency_unit": "1"}},
                       TIER_BONUS, PLUS_BONUS, GOLD_TREAT]})


def recorded(key: str, at: datetime) -> Standing:
    """Member 1: Silver, Gold after GOLD_FROM. Member 2: no tier, the Plus plan for a while."""
    if key == "id:1":
        return Standing("gold" if at > GOLD_FROM else "silver")
    if key == "id:2":
        return Standing(None, "plus" if PLUS_FROM < at < PLUS_UNTIL else None)
    return NO_STANDING


def buy(event_id: str, who: dict, day: int, total: int) -> dict:
    return ev(event_id, "purchase", who, f"2025-03-{day:02d}T12:00:00Z", order_id=event_id,
              currency="USD", total=total)


TIERED_HISTORY = [
    buy("a1", ALICE, 5, 10_00),            # Alice, Silver
    buy("b1", {"id": 2}, 5, 10_00),        # Bob, no tier, no plan
    buy("a2", ALICE, 12, 20_00),           # Alice, Gold
    buy("b2", {"id": 2}, 12, 10_00),       # Bob, Plus: triple points, Silver floor
    ev("a3", "return", ALICE, "2025-03-13T12:00:00Z", order_id="a1"),  # a Silver order
    buy("b3", {"id": 2}, 20, 10_00),       # Bob, Plus over
]


def simulate_tiered(document: ProgramDocument):
    return Simulator(document, standing=recorded).run(TIERED_HISTORY)


def by_rule(report) -> dict[str, int]:
    return {r.rule_id: r.points_issued for r in report.rules}


def by_tier(report) -> dict[str | None, tuple[int, int, int, int]]:
    return {t.tier_id: (t.events, t.members, t.points_issued, t.points_clawed_back)
            for t in report.tiers}


def test_the_recorded_tier_and_plan_at_each_event_decide_multipliers_and_conditions():
    report = simulate_tiered(tiered())
    assert by_rule(report) == {"base": 60, "tier_bonus": 20, "plus_bonus": 20, "gold_treat": 7}
    assert by_tier(report) == {"member": (2, 1, 20, 0), "silver": (2, 2, 40, 10),
                               "gold": (2, 1, 47, 0)}
    assert sum(t.points_issued for t in report.tiers) == report.points_issued == 107
    assert sum(t.net_points for t in report.tiers) == report.net_points
    assert [t.cost_minor for t in report.tiers] == [20, 30, 47]  # a point is worth a cent
    assert report.tiers_not_in_document == {} and report.plans_not_in_document == {}


def test_a_draft_that_doubles_gold_multiplies_only_what_gold_members_earned_as_gold():
    current, draft = simulate_tiered(tiered("2")), simulate_tiered(tiered("4"))
    gold_base = 20  # Alice's second order; her first came before she was Gold
    assert by_rule(draft)["tier_bonus"] - by_rule(current)["tier_bonus"] == 2 * gold_base
    assert by_tier(draft)["gold"][2] - by_tier(current)["gold"][2] == 2 * gold_base
    assert by_tier(draft)["silver"] == by_tier(current)["silver"]


def test_a_recorded_tier_the_draft_lacks_runs_without_a_tier_and_is_counted():
    report = simulate_tiered(tiered(None))
    assert report.tiers_not_in_document == {"gold": 2}
    assert by_rule(report) == {"base": 60, "tier_bonus": 0, "plus_bonus": 20, "gold_treat": 0}
    assert by_tier(report) == {"member": (2, 1, 20, 0), "silver": (2, 2, 40, 10),
                               None: (2, 1, 20, 0)}
    assert report.tiers[-1].tier_name == "no tier"
    assert report.events_evaluated == 6


def test_a_plan_the_draft_does_not_offer_gives_neither_multiplier_nor_floor():
    report = simulate_tiered(tiered(plan="premium"))
    assert report.plans_not_in_document == {"plus": 1}
    assert by_rule(report)["plus_bonus"] == 0
    assert by_tier(report)["member"] == (3, 1, 30, 0)  # Bob's Plus order is not lifted


def test_without_recorded_standing_members_start_on_the_first_level():
    report = Simulator(tiered()).run(TIERED_HISTORY)
    assert by_tier(report) == {"member": (6, 2, 60, 10), "silver": (0, 0, 0, 0),
                               "gold": (0, 0, 0, 0)}
    assert by_rule(report) == {"base": 60, "tier_bonus": 0, "plus_bonus": 0, "gold_treat": 0}


def test_a_program_without_tiers_reports_every_event_without_a_tier():
    report = Simulator(half_cent_demo(), standing=recorded).run(HISTORY)
    assert [(t.tier_id, t.events, t.points_issued) for t in report.tiers] == [
        (None, report.events_evaluated, report.points_issued)]
    assert report.tiers_not_in_document == {"gold": 3}  # all of Alice's events, after 10 March
