"""Household tiers on SQLite and PostgreSQL (``tiers.per: household``): a member who joins
takes the household's shared tier at once, and one who leaves is placed at once on the tier
their own metric secures."""

from __future__ import annotations

from datetime import datetime, timezone

from patron.tiers.service import member_tier
from tests.flows.test_ingest import BASE
from tests.households.conftest import FamilyShop
from tests.tiers.test_tiers import LADDER

TIERS = {"metric": "qualifying_spend", "window": {"type": "calendar_year"}, "grace_days": 30,
         "max_drop": 1, "per": "household", "levels": LADDER}


def family_shop(database, clock) -> FamilyShop:
    shop = FamilyShop(database, clock)
    shop.program = shop.publish_full(shop.program, [BASE], households=shop.households,
                                     tiers=TIERS)
    return shop


def view(shop, member):
    return shop.db.read(lambda conn: member_tier(conn, shop.program, member, shop.clock.now()))


def spend(shop, member, amount):
    shop.send(shop.purchase(member, [("X", "", 1, amount)]))


def test_a_member_who_joins_takes_the_households_tier_at_once(database, clock):
    shop = family_shop(database, clock)
    ann, ben = shop.member(), shop.member()
    home = shop.household(ann)
    spend(shop, ann, 600_00)
    clock.advance(days=3)
    shop.join(home.id, ben)
    state = view(shop, ben)
    assert state["tier"]["id"] == "gold" and state["shared_with"] == [ann]
    assert state["since"] == clock.now()
    assert state["secured_until"] == view(shop, ann)["secured_until"]
    assert state["history"][0]["kind"] == "household_join"
    assert "The Smiths" in state["history"][0]["reason"]


def test_joining_can_lift_the_whole_household_on_the_combined_metric(database, clock):
    shop = family_shop(database, clock)
    ann, ben = shop.member(), shop.member()
    home = shop.household(ann)
    spend(shop, ann, 300_00)
    spend(shop, ben, 250_00)
    assert view(shop, ann)["tier"]["id"] == view(shop, ben)["tier"]["id"] == "silver"
    shop.join(home.id, ben)
    assert view(shop, ann)["tier"]["id"] == view(shop, ben)["tier"]["id"] == "gold"
    assert "the household's $550.00 spent reached Gold" in \
        view(shop, ann)["history"][0]["reason"]


def test_a_member_who_leaves_is_placed_on_their_own_metric_at_once(database, clock):
    shop = family_shop(database, clock)
    ann, ben = shop.member(), shop.member()
    home = shop.household(ann)
    shop.join(home.id, ben)
    spend(shop, ann, 300_00)
    spend(shop, ben, 300_00)
    assert view(shop, ben)["tier"]["id"] == "gold"
    clock.advance(days=1)
    shop.leave(home.id, ben)
    state = view(shop, ben)
    assert (state["tier"]["id"], state["shared_with"]) == ("silver", [])
    assert state["since"] == clock.now()
    assert state["secured_until"] == datetime(2028, 1, 1, tzinfo=timezone.utc)
    assert state["history"][0]["kind"] == "household_leave"
    assert view(shop, ann)["tier"]["id"] == "gold"  # the household's, until its review


def test_a_leaver_keeps_what_their_own_last_year_secured(database, clock):
    shop = family_shop(database, clock)
    ann, ben = shop.member(), shop.member()
    spend(shop, ben, 600_00)  # Gold on his own in 2026, secured to 2028
    clock.set(datetime(2027, 3, 1, tzinfo=timezone.utc))
    home = shop.household(ann)
    shop.join(home.id, ben)
    assert view(shop, ann)["tier"]["id"] == "gold"  # the household's 2026 spend
    clock.advance(days=30)
    shop.leave(home.id, ben)
    state = view(shop, ben)
    assert state["tier"]["id"] == "gold"
    assert state["secured_until"] == datetime(2028, 1, 1, tzinfo=timezone.utc)
