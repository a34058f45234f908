"""Members' recorded tiers and plans over time, as the simulator reads them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from patron.memberships.domain import Membership, MembershipState
from patron.tiers.history import TierChange, standing_history

T = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
TICK = timedelta(seconds=1)


def day(n: int) -> datetime:
    return T + timedelta(days=n)


def test_an_earned_tier_counts_from_just_after_the_event_that_reached_it():
    history = standing_history([TierChange("upgrade", "silver", day(1)),
                                TierChange("upgrade", "gold", day(5)),
                                TierChange("retained", "gold", day(300)),
                                TierChange("downgrade", "silver", day(400))], None)
    assert history.tier_at(day(0)) is None  # nothing recorded yet: the first level
    assert history.tier_at(day(1)) is None  # the qualifying event itself
    assert history.tier_at(day(1) + TICK) == "silver"
    assert history.tier_at(day(5)) == "silver"
    assert history.tier_at(day(6)) == history.tier_at(day(399)) == "gold"
    assert history.tier_at(day(401)) == "silver"


def test_a_manual_tier_runs_until_its_end_a_later_one_or_the_states_date():
    changes = [TierChange("upgrade", "silver", day(1)),
               TierChange("manual", "platinum", day(2)),
               TierChange("manual_end", "silver", day(4)),
               TierChange("upgrade", "gold", day(5)),
               TierChange("manual", "silver", day(8)),
               TierChange("manual", "platinum", day(9))]
    history = standing_history(changes, manual_until=day(12))
    assert [history.tier_at(day(n) + TICK) for n in range(1, 14)] == [
        "silver", "platinum", "platinum", "silver", "gold", "gold", "gold",
        "silver",                  # set by hand below the earned tier: it still applies
        "platinum", "platinum", "platinum", "gold", "gold"]


def test_a_manual_tier_whose_end_is_unknown_is_not_assumed_to_last():
    history = standing_history([TierChange("manual", "gold", day(2))], manual_until=None)
    assert history.tier_at(day(3)) is None


def membership(plan: str, state: MembershipState, started: datetime | None, paid_until,
               **dates) -> Membership:
    return Membership(1, 7, plan, state, 4900, "USD", 1, 7, created_at=started or day(0),
                      started_at=started, current_period_start=started,
                      current_period_end=paid_until, paid_until=paid_until, **dates)


def test_a_plan_counts_while_its_benefits_ran():
    cancelled = membership("plus", MembershipState.ENDED, day(1), day(31),
                           cancelled_at=day(3), ended_at=day(31))
    lapsed = membership("monthly", MembershipState.LAPSED, day(40), day(70),
                        lapsed_at=day(77))
    never_paid = membership("gold", MembershipState.LAPSED, None, None, lapsed_at=day(90))
    history = standing_history([], None, [cancelled, lapsed, never_paid])
    assert [history.plan_at(day(n)) for n in (0, 1, 30, 31, 40, 76, 77, 85)] == [
        None, "plus", "plus", None, "monthly", "monthly", None, None]
    assert history.at(day(2)) == (None, "plus")


# --- read from the database (SQLite and PostgreSQL) -------------------------------------------


def test_load_reads_running_manual_tiers_household_moves_and_only_this_program(database,
                                                                              clock):
    from patron.households.schemas import HouseholdCreate
    from patron.households.service import add_member, create_household
    from patron.tiers.history import load
    from patron.tiers.service import set_manual
    from tests.flows.test_ingest import BASE, Shop
    from tests.tiers.test_tiers import LADDER

    shop = Shop(database, clock, [BASE], pending_days=0)
    shop.program = shop.publish_full(shop.program, [BASE], households={"pooled_points": True},
                                     tiers={"metric": "qualifying_spend", "per": "household",
                                            "levels": LADDER})
    ann, ben, solo = shop.member(), shop.member(), shop.member()
    database.transact(lambda conn: add_member(conn, shop.program, create_household(
        conn, shop.program, HouseholdCreate(name="The Smiths", owner_member_id=ann),
        now=clock.now(), actor="test").id, ben, "adult", now=clock.now(), actor="test"))
    clock.advance(hours=1)
    shop.send(shop.purchase(ann, [("A", "", 1, 300_00)]))
    clock.advance(hours=1)
    reached = clock.now()
    shop.send(shop.purchase(ben, [("B", "", 1, 250_00)]))  # the household reaches Gold
    clock.advance(hours=1)
    until = clock.now() + timedelta(days=5)
    database.transact(lambda conn: set_manual(conn, shop.program, solo, "platinum", until,
                                              "launch guest", "test", clock.now()))
    other = Shop(database, clock, [BASE], pending_days=0)
    stranger = other.member()
    found = database.read(lambda conn: load(conn, shop.program.id, [ann, ben, solo, stranger]))
    assert [found[ann].tier_at(at) for at in (reached, reached + TICK)] == ["silver", "gold"]
    assert found[ben].tier_at(reached + TICK) == "gold"  # he moved with the household
    assert found[solo].tier_at(clock.now() + TICK) == "platinum"
    assert found[solo].tier_at(until) is None  # the manual tier's end, from its state
    assert found[stranger] == standing_history([], None)
