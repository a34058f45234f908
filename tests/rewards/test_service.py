"""The rewards domain's answers on SQLite and PostgreSQL, driven through redemptions: who
may redeem what (limits, tiers, plans, conditions), stock under races and new versions,
the catalog and donation totals."""

from __future__ import annotations

import pytest

from patron.ledger.domain import InsufficientPoints
from patron.rewards import service
from tests.concurrency import race
from tests.rewards.factories import PLANS, REWARDS, TIERS, Store


def test_fifty_members_race_for_ten_mugs(database, clock):
    store = Store(database, clock)
    members = [store.member(points=300) for _ in range(50)]
    outcomes = race(50, lambda n: store.redeem(members[n], "mug"))
    assert outcomes == {"ok": 10, "out_of_stock": 40}
    stock = store.stock("mug")
    assert (stock.remaining, stock.redeemed, stock.stock) == (0, 10, 10)
    spent = [m for m in members if store.points(m) == 0]
    assert len(spent) == 10
    assert sorted(store.points(m) for m in members) == [0] * 10 + [300] * 40
    for member in members:
        store.assert_exact(member)
    assert store.offer(members[0], "mug").reason == "out_of_stock"


def test_first_redemptions_racing_to_create_the_stock_row_all_succeed(database, clock):
    """The first redemptions of a stocked reward race to create its stock row; one
    that tried to take a unit before the row was committed is not out of stock."""
    rounds = 6
    rewards = [{"id": f"pin{n}", "name": f"Pin {n}", "type": "gift", "cost_points": 10,
                "stock": 100} for n in range(rounds)]
    store = Store(database, clock, rewards)
    members = [store.member(points=10 * rounds) for _ in range(8)]
    for n in range(rounds):
        outcomes = race(8, lambda m, n=n: store.redeem(members[m], f"pin{n}"))
        assert outcomes == {"ok": 8}, f"round {n}: {outcomes}"
        assert store.stock(f"pin{n}").remaining == 92


def test_limit_per_member_counts_standing_redemptions_in_the_period(database, clock):
    store = Store(database, clock)
    member = store.member(points=5000)
    first = store.redeem(member, "tasting")
    with pytest.raises(service.LimitReached):
        store.redeem(member, "tasting")
    assert store.offer(member, "tasting").reason == "limit_reached"
    store.cancel(first.id)
    second = store.redeem(member, "tasting")
    assert store.offer(member, "tasting").limit_per_member.used == 1
    store.advance(days=365)                          # a new calendar year
    store.redeem(member, "tasting")
    assert second.fulfilment == "booked"
    assert store.stock("tasting").remaining == 0
    store.assert_exact(member)


def test_simultaneous_redemptions_keep_to_the_limit(database, clock):
    store = Store(database, clock)
    member = store.member(points=5000)
    outcomes = race(6, lambda n: store.redeem(member, "tasting", key=f"t-{n}"))
    assert outcomes == {"ok": 1, "limit_reached": 5}
    assert store.points(member) == 4500 and store.stock("tasting").remaining == 1
    store.assert_exact(member)


def test_tier_only_rewards(database, clock):
    gold_mug = {"id": "gold-mug", "name": "Gold mug", "type": "gift", "cost_points": 100,
                "eligibility": {"tiers": ["gold"]}}
    lounge = {"id": "lounge", "name": "Lounge", "type": "experience", "cost_points": 100}
    store = Store(database, clock, [gold_mug, lounge], tiers=TIERS)
    member = store.member(points=1000)
    for reward_id in ("gold-mug", "lounge"):
        offer = store.offer(member, reward_id)
        assert (offer.eligible, offer.affordable, offer.reason) == (
            False, True, "tier_required")
        with pytest.raises(service.TierRequired):
            store.redeem(member, reward_id)
    store.set_tier(member, "gold")
    assert store.offer(member, "lounge").eligible
    store.redeem(member, "gold-mug")
    store.redeem(member, "lounge")
    assert store.points(member) == 800
    store.assert_exact(member)


def test_plan_only_rewards(database, clock):
    box = {"id": "plus-box", "name": "Plus box", "type": "gift", "cost_points": 100}
    tee = {"id": "tee", "name": "T-shirt", "type": "gift", "cost_points": 100,
           "eligibility": {"plans": ["plus"]}}
    store = Store(database, clock, [box, tee], memberships=PLANS)
    member = store.member(points=1000)
    assert store.offer(member, "plus-box").reason == "plan_required"
    with pytest.raises(service.PlanRequired):
        store.redeem(member, "tee")
    store.subscribe(member)
    assert store.offer(member, "plus-box").eligible
    store.redeem(member, "plus-box")
    store.redeem(member, "tee")
    assert store.points(member) == 800


def test_condition_over_the_member(database, clock):
    north = {"id": "north", "name": "North only", "type": "gift", "cost_points": 100,
             "eligibility": {"when": 'member.profile.region == "North" && '
                                     'member.profile.attributes.vip == true'}}
    store = Store(database, clock, [north])
    south = store.member(points=500, region="South", attributes={"vip": True})
    vip = store.member(points=500, region="North", attributes={"vip": True})
    assert store.offer(south, "north").reason == "condition_not_met"
    with pytest.raises(service.ConditionNotMet):
        store.redeem(south, "north")
    assert store.offer(vip, "north").eligible
    store.redeem(vip, "north")
    assert store.points(vip) == 400 and store.points(south) == 500


def test_catalog_shows_what_is_on_offer_now(database, clock):
    later = {"id": "spring", "name": "Spring", "type": "gift", "cost_points": 100,
             "valid_from": "2026-04-01"}
    gone = {"id": "winter", "name": "Winter", "type": "gift", "cost_points": 100,
            "valid_until": "2026-02-28"}
    store = Store(database, clock, [*REWARDS, later, gone])
    member = store.member(points=120)
    items = {o.id: o for o in store.catalog(member).items}
    assert set(items) == {"coffee", "mug", "tasting", "cash5", "trees"}
    assert (items["coffee"].eligible, items["coffee"].affordable) == (True, True)
    mug = items["mug"]
    assert (mug.eligible, mug.affordable, mug.reason, mug.points_needed) == (
        True, False, "insufficient_points", 180)
    everything = {o.id: o.reason for o in store.catalog(member, everything=True).items}
    assert (everything["spring"], everything["winter"]) == ("not_yet_available", "expired")
    with pytest.raises(service.NotYetAvailable):
        store.redeem(member, "spring")
    with pytest.raises(service.RewardNotFound):
        store.redeem(member, "nothing")
    with pytest.raises(InsufficientPoints):
        store.redeem(member, "mug")
    assert store.points(member) == 120


def test_a_new_version_changing_stock_counts_what_is_redeemed(database, clock):
    store = Store(database, clock)
    member = store.member(points=10_000)
    for _ in range(4):
        store.redeem(member, "mug")                  # stock 10: 6 left
    mug = next(r for r in REWARDS if r["id"] == "mug")
    others = [r for r in REWARDS if r["id"] != "mug"]
    store.publish([*others, {**mug, "stock": 5}])
    assert store.offer(member, "mug").stock_remaining == 1
    last = store.redeem(member, "mug")
    with pytest.raises(service.OutOfStock):
        store.redeem(member, "mug")
    store.publish([*others, {**mug, "stock": 3}])    # below what is redeemed: none left
    assert store.offer(member, "mug").stock_remaining == 0
    store.cancel(last.id)                            # 4 redeemed against 3: still none
    assert store.offer(member, "mug").stock_remaining == 0
    store.publish([*others, {**mug, "stock": 8}])
    assert store.offer(member, "mug").stock_remaining == 4
    store.redeem(member, "mug")
    stock = store.stock("mug")
    assert (stock.stock, stock.redeemed, stock.remaining) == (8, 5, 3)
    store.assert_exact(member)


def test_donations_are_totalled_per_cause(database, clock):
    whales = {"id": "whales", "name": "Save whales", "type": "donation", "cost_points": 200,
              "cause": "Oceans"}
    store = Store(database, clock, [*REWARDS, whales])
    a, b = store.member(points=1000), store.member(points=1000)
    store.redeem(a, "trees")
    store.redeem(a, "trees")
    store.redeem(b, "trees")
    gift = store.redeem(b, "whales")
    assert gift.cause == "Oceans" and gift.fulfilment == "donated"
    cancelled = store.redeem(a, "whales")
    store.cancel(cancelled.id)
    totals = database.read(lambda conn: service.donations(conn, store.program))
    assert [(c.cause, c.donations, c.members, c.points) for c in totals.causes] == [
        ("Oceans", 1, 1, 200), ("Reforestation", 3, 2, 150)]
    assert (totals.donations, totals.points) == (4, 350)


def test_a_member_short_of_points_for_a_sold_out_reward_hears_out_of_stock(database, clock):
    """The stock is said before the member's points, though it is read only when it decides."""
    store = Store(database, clock, [{"id": "pin", "name": "Pin", "type": "gift",
                                     "cost_points": 100, "stock": 1}])
    rich, poor = store.member(points=100), store.member(points=50)
    with pytest.raises(InsufficientPoints):
        store.redeem(poor, "pin")
    store.redeem(rich, "pin")
    with pytest.raises(service.OutOfStock):
        store.redeem(poor, "pin")
    with pytest.raises(service.OutOfStock):
        store.redeem(rich, "pin")
    assert (store.points(rich), store.points(poor)) == (0, 50)
    store.assert_exact(rich)
