"""Tiers on SQLite and PostgreSQL: upgrade inside the event, review after grace at the
period end with max-drop, manual tiers that end, returns, benefit multipliers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from patron.flows import jobs
from patron.tiers.service import member_tier, review_program, set_manual
from tests.flows.test_ingest import BASE, Shop, rule

LADDER = [{"id": "member", "name": "Member", "threshold": 0},
          {"id": "silver", "name": "Silver", "threshold": 100_00,
           "benefits": {"perks": ["free refills"]}},
          {"id": "gold", "name": "Gold", "threshold": 500_00,
           "benefits": {"earn_multiplier": "2", "perks": ["free refills", "lounge"]}},
          {"id": "platinum", "name": "Platinum", "threshold": 2000_00}]


def tier_shop(database, clock, *rules, **tiers):
    shop = Shop(database, clock, [BASE, *rules], pending_days=0)
    document_tiers = {"metric": "qualifying_spend", "window": {"type": "calendar_year"},
                      "grace_days": 30, "max_drop": 1, "levels": LADDER, **tiers}
    shop.program = shop.publish_full(shop.program, [BASE, *rules], tiers=document_tiers)
    return shop


def view(shop, member):
    return shop.db.read(lambda conn: member_tier(conn, shop.program, member, shop.clock.now()))


def sweep(shop):
    """This program's review (the scheduled sweep reviews every program of the database)."""
    reviewed, changes = shop.db.transact(lambda conn: review_program(
        conn, shop.program, shop.clock.now()))
    return {"reviewed": reviewed, "changes": changes}


def test_upgrade_happens_inside_the_purchase_and_later_events_see_it(database, clock):
    gold_bonus = rule("gold_bonus", "purchase", {"fixed": 7}, when="member.tier == 'gold'")
    double = rule("gold_double", "purchase", {"benefit_multiplier": "tier", "of": ["base"]})
    shop = tier_shop(database, clock, gold_bonus, double)
    member = shop.member()
    first, second = shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]),
                              shop.purchase(member, [("LAT", "", 1, 10_00)]))
    assert {a.rule_id: a.points for a in first.awards} == {"base": 600}
    assert (first.tier.from_tier, first.tier.to_tier, first.tier.kind) == ("member", "gold",
                                                                          "upgrade")
    assert second.tier is None
    assert {a.rule_id: a.points for a in second.awards} == {"base": 10, "gold_bonus": 7,
                                                            "gold_double": 10}
    state = view(shop, member)
    assert state["tier"] == {"id": "gold", "name": "Gold"} and state["source"] == "earned"
    assert state["since"] == clock.now()
    assert state["secured_until"] == datetime(2028, 1, 1, tzinfo=timezone.utc)
    assert state["metric"]["value"] == 610_00
    assert state["next_tier"]["id"] == "platinum"
    assert state["next_tier"]["remaining"] == 2000_00 - 610_00
    assert state["benefits"]["perks"] == ["free refills", "lounge"]
    assert state["history"][0]["kind"] == "upgrade"
    assert "$600.00 spent reached Gold ($500.00 spent)" in state["history"][0]["reason"]


def test_downgrade_only_after_grace_at_period_end_and_by_at_most_max_drop(database, clock):
    shop = tier_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]))
    clock.set(datetime(2028, 1, 30, tzinfo=timezone.utc))
    assert sweep(shop) == {"reviewed": 0, "changes": 0}
    assert view(shop, member)["tier"]["id"] == "gold"
    clock.set(datetime(2028, 2, 1, tzinfo=timezone.utc))
    assert jobs.run_all(shop.db, clock.now())["tiers"]["changes"] >= 1
    state = view(shop, member)
    assert state["tier"]["id"] == "silver"
    assert state["history"][0]["kind"] == "downgrade"
    assert "Gold to Silver: $0.00 spent from 2027-01-01 to 2028-01-01" in \
        state["history"][0]["reason"]
    assert state["secured_until"] == datetime(2029, 1, 1, tzinfo=timezone.utc)
    assert sweep(shop) == {"reviewed": 0, "changes": 0}
    clock.set(datetime(2029, 2, 1, tzinfo=timezone.utc))
    sweep(shop)
    assert view(shop, member)["tier"]["id"] == "member"
    assert view(shop, member)["secured_until"] is None


def test_a_member_who_requalifies_keeps_the_tier(database, clock):
    shop = tier_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("BIG", "", 1, 600_00)]))
    clock.set(datetime(2027, 6, 1, tzinfo=timezone.utc))
    shop.send(shop.purchase(member, [("BIG", "", 1, 550_00)]))
    clock.set(datetime(2028, 2, 1, tzinfo=timezone.utc))
    sweep(shop)
    state = view(shop, member)
    assert state["tier"]["id"] == "gold" and state["history"][0]["kind"] == "retained"
    assert state["secured_until"] == datetime(2029, 1, 1, tzinfo=timezone.utc)


def test_manual_tier_ends_on_its_date(database, clock):
    shop = tier_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("X", "", 1, 150_00)]))
    until = clock.now() + timedelta(days=10)
    shop.db.transact(lambda conn: set_manual(conn, shop.program, member, "platinum", until,
                                             "service recovery", "test", clock.now()))
    state = view(shop, member)
    assert (state["tier"]["id"], state["source"], state["earned_tier"]) == (
        "platinum", "manual", "silver")
    clock.advance(days=11)
    assert view(shop, member)["tier"]["id"] == "silver"
    assert sweep(shop)["changes"] == 1
    state = view(shop, member)
    assert state["manual"] is None and state["history"][0]["kind"] == "manual_end"
    assert sweep(shop)["changes"] == 0


def test_a_return_lowers_the_metric_and_moves_down_at_the_next_review(database, clock):
    shop = tier_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("A", "", 1, 400_00), ("B", "", 1, 200_00)],
                            order_id="T-1"))
    shop.send(shop.event(member, "return", {"order_id": "T-1", "lines": [{"sku": "B"}]}))
    state = view(shop, member)
    assert state["metric"]["value"] == 400_00 and state["tier"]["id"] == "gold"


def test_a_return_can_move_down_at_once_when_the_program_says_so(database, clock):
    shop = tier_shop(database, clock, returns_downgrade_immediately=True)
    member = shop.member()
    shop.send(shop.purchase(member, [("A", "", 1, 400_00), ("B", "", 1, 200_00)],
                            order_id="T-2"))
    shop.send(shop.event(member, "return", {"order_id": "T-2", "lines": [{"sku": "B"}]}))
    state = view(shop, member)
    assert state["tier"]["id"] == "silver" and state["history"][0]["kind"] == "downgrade"


def test_tier_points_from_rules_that_say_so(database, clock):
    review = rule("review", "review", {"fixed": 60}, tier_points=True)
    shop = Shop(database, clock, [BASE, review], pending_days=0)
    shop.program = shop.publish_full(shop.program, [BASE, review], tiers={
        "metric": "tier_points", "window": {"type": "rolling_months", "months": 12},
        "levels": [{"id": "member", "name": "Member", "threshold": 0},
                   {"id": "silver", "name": "Silver", "threshold": 100}]})
    member = shop.member()
    shop.send(shop.purchase(member, [("X", "", 1, 500_00)]))
    assert view(shop, member)["metric"]["value"] == 0
    shop.send(shop.event(member, "review"), shop.event(member, "review"))
    state = view(shop, member)
    assert state["tier"]["id"] == "silver" and state["metric"]["value"] == 120
    assert state["secured_until"] == clock.now() + timedelta(days=365)


def test_a_household_tier_is_reached_together(database, clock):
    from patron.households.schemas import HouseholdCreate
    from patron.households.service import add_member, create_household

    shop = Shop(database, clock, [BASE], pending_days=0)
    shop.program = shop.publish_full(shop.program, [BASE], households={"pooled_points": True},
                                     tiers={"metric": "qualifying_spend", "per": "household",
                                            "levels": LADDER})
    ann, ben, solo = shop.member(), shop.member(), shop.member()

    def family(conn):
        home = create_household(conn, shop.program, HouseholdCreate(
            name="The Smiths", owner_member_id=ann), now=clock.now(), actor="test")
        add_member(conn, shop.program, home.id, ben, "adult", now=clock.now(), actor="test")
    database.transact(family)
    shop.send(shop.purchase(ann, [("A", "", 1, 300_00)]), shop.purchase(solo, [("A", "", 1, 300_00)]))
    [second] = shop.send(shop.purchase(ben, [("B", "", 1, 250_00)]))
    assert second.tier.to_tier == "gold"
    assert view(shop, ann)["tier"]["id"] == view(shop, ben)["tier"]["id"] == "gold"
    assert view(shop, ann)["shared_with"] == [ben]
    assert view(shop, ann)["metric"]["value"] == 550_00
    assert view(shop, solo)["tier"]["id"] == "silver"
    assert "the household's $550.00 spent reached Gold" in view(shop, ann)["history"][0]["reason"]
    from patron.households.service import household_of
    from patron.tiers.service import household_tier

    home_id = database.read(lambda conn: household_of(conn, shop.program.id, [ann]))[ann][0]
    shared = database.read(lambda conn: household_tier(conn, shop.program, home_id,
                                                       clock.now()))
    assert shared["tier"]["tier"]["id"] == "gold" and shared["per"] == "household"
    assert {m: v["tier"]["id"] for m, v in shared["members"].items()} == {
        str(ann): "gold", str(ben): "gold"}
