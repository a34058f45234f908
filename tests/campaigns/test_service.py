"""Assigning a campaign's target: recorded once, treatment gets its coupons, earning
follows the group."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import func, select

from patron.campaigns import service
from patron.campaigns.domain import assign as bucket_group
from patron.coupons import checkout
from patron.coupons.schemas import RedeemRequest, ReleaseRequest
from patron.coupons.tables import coupons
from tests.campaigns.factories import Shop, campaign


def assign(shop: Shop, campaign_id: str | None = None):
    now = shop.clock.now()
    if campaign_id is None:
        return shop.db.transact(lambda conn: service.assign(conn, shop.program, now))
    return shop.db.transact(lambda conn: service.assign_campaign(conn, shop.program,
                                                                 campaign_id, now))


def coupons_of(shop: Shop, member_id: int) -> int:
    return shop.db.read(lambda conn: conn.execute(select(func.count()).where(
        coupons.c.program_id == shop.program.id, coupons.c.member_id == member_id)).scalar())


def test_every_active_member_is_assigned_by_the_shared_rule(database, clock):
    shop = Shop(database, clock, campaign())
    members = shop.members(30)
    [done] = assign(shop)
    groups = shop.groups()
    assert sorted(groups) == members
    for member_id, group in groups.items():
        assert bucket_group(shop.program.id, "spring", member_id, Decimal("0.2"))[1] == group
    assert done.treatment + done.holdout == 30 and done.holdout == list(
        groups.values()).count("holdout")


def test_assigning_again_assigns_and_issues_nothing_new(database, clock):
    shop = Shop(database, clock, campaign(coupons=[{"type": "ten-off"}]))
    shop.members(10)
    first = assign(shop)[0]
    again = assign(shop)[0]
    assert first.treatment > 0 and first.coupons == first.treatment
    assert (again.treatment, again.holdout, again.coupons) == (0, 0, 0)


def test_treatment_members_get_coupons_and_holdout_members_none(database, clock):
    shop = Shop(database, clock, campaign(coupons=[{"type": "ten-off", "count": 2}],
                                          reward="welcome"))
    shop.members(20)
    done = assign(shop)[0]
    groups = shop.groups()
    for member_id, group in groups.items():
        assert coupons_of(shop, member_id) == (3 if group == "treatment" else 0)
    assert done.money == 3000 * done.treatment


def test_money_budget_stops_the_gifts(database, clock):
    shop = Shop(database, clock, campaign(coupons=[{"type": "ten-off"}], holdout="0",
                                          budget={"money": 2500}))
    shop.members(5)
    done = assign(shop)[0]
    assert (done.treatment, done.coupons, done.skipped_for_budget, done.money) == (5, 2, 3, 2000)
    view = shop.db.read(lambda conn: service.get_campaign(conn, shop.program, "spring",
                                                          clock.now()))
    assert view.spend.money == 2000 and view.spend.budget_money == 2500


def test_a_segment_campaign_assigns_only_the_segment(database, clock):
    shop = Shop(database, clock, campaign(segment="lapsed"))
    members = shop.members(6)
    shop.segment("lapsed", members[:3])
    assign(shop)
    assert sorted(shop.groups()) == members[:3]


def test_a_member_never_switches_group_when_the_holdout_changes(database, clock):
    shop = Shop(database, clock, campaign(holdout="0.5"))
    shop.members(40)
    assign(shop)
    before = shop.groups()
    shop.publish(campaign(holdout="0"))
    shop.members(5)
    assign(shop)
    after = shop.groups()
    assert {m: after[m] for m in before} == before
    assert "holdout" in before.values()
    assert len(after) == 45


def test_only_treatment_earns_the_campaign_multiplier(database, clock):
    shop = Shop(database, clock, campaign())
    shop.members(20)
    assign(shop)
    groups = shop.groups()
    treated = next(m for m, g in groups.items() if g == "treatment")
    held = next(m for m, g in groups.items() if g == "holdout")
    assert shop.purchase(treated, 5000).points == 100
    assert shop.purchase(held, 5000).points == 50
    after = datetime(2026, 4, 2, tzinfo=timezone.utc)
    clock.set(after)
    assert shop.purchase(treated, 5000, at=after).points == 50


def test_campaign_points_budget_is_counted_and_stops_awards(database, clock):
    shop = Shop(database, clock, campaign(holdout="0", budget={"points": 80}))
    members = shop.members(2)
    assign(shop)
    first = shop.purchase(members[0], 5000)
    second = shop.purchase(members[1], 5000)
    assert (first.points, second.points) == (100, 80)
    assert "the campaign's budget is used up" in second.awards[-1].reason
    third = shop.purchase(members[0], 5000)
    assert third.points == 50
    assert [n.code for n in third.notes] == ["campaign_budget_exhausted"]
    view = shop.db.read(lambda conn: service.get_campaign(conn, shop.program, "spring",
                                                          clock.now()))
    assert (view.spend.points, view.spend.money) == (80, 40)


def test_the_sweep_skips_a_campaign_whose_segment_is_gone(database, clock):
    shop = Shop(database, clock, campaign(id="lapsed", segment="lapsed"), campaign())
    shop.members(3)
    done = assign(shop)
    assert [d.campaign_id for d in done] == ["spring"]
    assert shop.groups("lapsed") == {} and len(shop.groups()) == 3


def test_percent_coupons_cost_the_budget_what_they_take_off_at_checkout(database, clock):
    shop = Shop(database, clock, campaign(coupons=[{"type": "pct"}], holdout="0",
                                          budget={"money": 5000}))
    members = shop.members(2)
    done = assign(shop)[0]
    assert (done.coupons, done.money) == (2, 0)  # a percent's cost is not known at issue

    def spent():
        return shop.db.read(lambda conn: service.get_campaign(
            conn, shop.program, "spring", clock.now())).spend.money

    def code_of(member_id):
        return shop.db.read(lambda conn: conn.execute(select(coupons.c.code).where(
            coupons.c.member_id == member_id)).scalar_one())

    def redeem(member_id, order_id):
        request = RedeemRequest.model_validate({"order_id": order_id, "member_id": member_id,
                                                "order": {"subtotal": 200_00,
                                                          "currency": "USD"}})
        return shop.db.transact(lambda conn: checkout.redeem(
            conn, shop.program, code_of(member_id), request, now=clock.now(), actor="test"))

    first, new = redeem(members[0], "o-1")
    assert new and first.discount == 30_00 and spent() == 30_00
    assert redeem(members[0], "o-1")[1] is False and spent() == 30_00  # a retry costs nothing
    shop.db.transact(lambda conn: checkout.release(
        conn, shop.program, code_of(members[0]), ReleaseRequest(order_id="o-1"),
        now=clock.now(), actor="test"))
    assert spent() == 0  # a cancelled order gives its discount back
    redeem(members[0], "o-2")
    redeem(members[1], "o-3")
    assert spent() == 60_00  # over the budget: the next gifts and awards stop
    more = shop.members(1)
    assert assign(shop)[0].skipped_for_budget == 1 and coupons_of(shop, more[0]) == 0
