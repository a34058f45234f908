"""Late events on SQLite and PostgreSQL: an event is earned with the tier and paid plan the
member held when it occurred, and it moves today's tier only to a tier it would still secure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from patron.members.service import get_member
from patron.memberships import jobs as membership_jobs
from patron.memberships import service as memberships
from patron.memberships.schemas import MembershipCreate, PaymentIn
from tests.conftest import T0
from tests.flows.test_ingest import BASE, rule
from tests.tiers.test_tiers import sweep, tier_shop, view

GOLD_DOUBLE = rule("gold_double", "purchase", {"benefit_multiplier": "tier", "of": ["base"]})
PLUS = {"id": "plus", "name": "Plus", "price": 4900, "period_months": 12, "grace_days": 14,
        "benefits": {"earn_multiplier": "2"}}
PLUS_DOUBLE = rule("plus_double", "purchase", {"benefit_multiplier": "membership",
                                               "of": ["base"]})


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, tzinfo=timezone.utc)


def decayed_member(shop, clock):
    """Gold in 2026 (secured to 2028), Silver at the 2028 review, Member at the 2029 one."""
    member = shop.member()
    shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]))
    for year in (2028, 2029):
        clock.set(at(year, 2, 1))
        sweep(shop)
    assert view(shop, member)["tier"]["id"] == "member"
    return member


def test_a_late_purchase_in_a_closed_window_moves_no_one_today(database, clock):
    shop = tier_shop(database, clock)
    member = decayed_member(shop, clock)
    before = view(shop, member)
    clock.set(at(2030, 3, 1))
    [late] = shop.send(shop.purchase(member, [("TV", "", 1, 2500_00)], at=at(2027, 6, 1)))
    assert late.status == "processed" and late.tier is None
    after = view(shop, member)
    assert after["tier"]["id"] == "member"
    assert (after["since"], after["secured_until"]) == (before["since"], None)
    assert after["history"] == before["history"]
    assert sweep(shop) == {"reviewed": 0, "changes": 0}


NEW_YEARS_EVE = datetime(2026, 12, 31, 23, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize("processed", [datetime(2027, 1, 1, 0, 1, tzinfo=timezone.utc),
                                       datetime(2027, 1, 21, 9, tzinfo=timezone.utc)],
                         ids=["a_minute_after_midnight", "three_weeks_later"])
def test_a_purchase_on_new_years_eve_processed_in_january_upgrades_to_the_end_of_next_year(
        database, clock, processed):
    shop = tier_shop(database, clock)
    member = shop.member()
    clock.set(at(2026, 6, 1))
    shop.send(shop.purchase(member, [("A", "", 1, 150_00)]))  # Silver
    clock.set(processed)
    [late] = shop.send(shop.purchase(member, [("TV", "", 1, 400_00)], at=NEW_YEARS_EVE))
    assert (late.tier.from_tier, late.tier.to_tier) == ("silver", "gold")
    assert "$550.00 spent reached Gold" in late.tier.reason
    state = view(shop, member)
    assert state["tier"]["id"] == "gold" and state["metric"]["value"] == 0
    assert state["since"] == NEW_YEARS_EVE
    assert state["secured_until"] == datetime(2028, 1, 1, tzinfo=timezone.utc)
    assert [(h["kind"], h["to_tier"]) for h in state["history"]] == [
        ("upgrade", "gold"), ("upgrade", "silver")]
    clock.set(datetime(2028, 1, 30, tzinfo=timezone.utc))
    assert sweep(shop) == {"reviewed": 0, "changes": 0}  # Gold is kept through 2027


def test_a_late_purchase_in_the_open_window_upgrades_after_the_latest_move(database, clock):
    shop = tier_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]))  # Gold, secured to 2028
    clock.set(at(2028, 2, 1))
    sweep(shop)
    assert view(shop, member)["tier"]["id"] == "silver"
    reviewed_at = view(shop, member)["history"][0]["at"]
    clock.set(at(2028, 3, 1))
    [late] = shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)], at=at(2028, 1, 10)))
    assert (late.tier.from_tier, late.tier.to_tier) == ("silver", "gold")
    state = view(shop, member)
    assert state["tier"]["id"] == "gold" and state["metric"]["value"] == 600_00
    assert state["since"] == reviewed_at  # not before the review that made them Silver
    assert state["secured_until"] == datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert [h["at"] for h in state["history"]] == sorted(
        (h["at"] for h in state["history"]), reverse=True)


def test_a_late_purchase_earns_at_the_tier_held_when_it_happened(database, clock):
    shop = tier_shop(database, clock, GOLD_DOUBLE)
    member = shop.member()
    clock.advance(days=1)
    shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]))  # Gold from T0 + 1 day
    clock.advance(days=1)
    [before_gold] = shop.send(shop.purchase(member, [("A", "", 1, 10_00)],
                                            at=T0 + timedelta(hours=1)))
    assert {a.rule_id: a.points for a in before_gold.awards} == {"base": 10}
    clock.set(at(2028, 3, 1))
    sweep(shop)
    assert view(shop, member)["tier"]["id"] == "silver"
    [while_gold] = shop.send(shop.purchase(member, [("A", "", 1, 10_00)],
                                           at=at(2027, 6, 1)))
    assert {a.rule_id: a.points for a in while_gold.awards} == {"base": 10, "gold_double": 10}


def _subscribe(shop, member, clock):
    payload = MembershipCreate(plan_id="plus", payment=PaymentIn(
        reference=f"pay-{member}-{clock.now().isoformat()}", amount=4900))
    return shop.db.transact(lambda conn: memberships.subscribe(
        conn, shop.program, member, payload, actor="test", now=clock.now()))


def test_a_late_purchase_earns_with_the_plan_held_when_it_happened(database, clock):
    shop = tier_shop(database, clock, PLUS_DOUBLE)
    shop.program = shop.publish_full(shop.program, [BASE, PLUS_DOUBLE], memberships=[PLUS])
    member = shop.member()
    clock.advance(days=1)
    _subscribe(shop, member, clock)  # Plus from T0 + 1 day for 12 months
    clock.advance(days=1)
    [before_plan] = shop.send(shop.purchase(member, [("A", "", 1, 10_00)],
                                            at=T0 + timedelta(hours=1)))
    assert {a.rule_id: a.points for a in before_plan.awards} == {"base": 10}
    clock.set(at(2027, 6, 1))  # the plan lapsed unpaid
    membership_jobs.run(database, clock.now(), program_id=shop.program.id)
    [now] = shop.send(shop.purchase(member, [("A", "", 1, 10_00)]))
    assert {a.rule_id: a.points for a in now.awards} == {"base": 10}
    [during_plan] = shop.send(shop.purchase(member, [("A", "", 1, 10_00)],
                                            at=at(2026, 9, 1)))
    assert {a.rule_id: a.points for a in during_plan.awards} == {"base": 10,
                                                                 "plus_double": 10}


def test_a_member_enrolled_by_late_purchases_joined_at_the_first(database, clock):
    shop = tier_shop(database, clock)
    clock.set(at(2026, 6, 1))
    identity = {"identity": {"type": "email", "value": "late@example.com"}}
    second = {**shop.purchase(0, [("A", "", 1, 10_00)], at=at(2026, 4, 20)), "member": identity}
    first = {**shop.purchase(0, [("A", "", 1, 10_00)], at=at(2026, 4, 2)), "member": identity}
    enrolled, _ = shop.send(second, first)
    assert enrolled.enrolled
    member = database.read(lambda conn: get_member(conn, shop.program, enrolled.member_id))
    assert member.created_at == at(2026, 4, 2)
    assert view(shop, enrolled.member_id)["since"] == at(2026, 4, 2)
