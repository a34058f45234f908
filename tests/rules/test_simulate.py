"""Simulation: replaying history through a draft program reports what it would cost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from patron.rules.context import MemberProfile
from patron.rules.document import ProgramDocument
from patron.rules.money import points_value_minor
from patron.rules.simulate import Simulator
from patron.rules.validate import load_document
from tests.rules.benchmark import measure
from tests.rules.factories import DEMO

ALICE, CAROL = {"id": 1}, {"id": 3}
BOB = {"identity": {"type": "email", "value": " Bob@Example.com "}}


def half_cent_demo() -> ProgramDocument:
    data = load_document(DEMO.read_text())
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
