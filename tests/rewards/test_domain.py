"""Eligibility, stock and refund plans as pure functions."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from patron.ledger.domain import ExpiryPolicy, Lot, LotState
from patron.rewards import domain
from patron.rewards.domain import Holders, MemberInputs, Standing
from patron.program.context import MemberContext, MemberProfile
from patron.program.incentives import Reward
from tests.rewards.factories import document

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Paris")


def reward(**fields) -> Reward:
    return Reward.model_validate({"id": "mug", "name": "Mug", "type": "gift",
                                  "cost_points": 300, **fields})


def test_plain_dates_are_whole_days_in_the_program_timezone():
    r = reward(valid_from=date(2026, 3, 3), valid_until=date(2026, 3, 31))
    paris_midnight = datetime(2026, 3, 2, 23, tzinfo=UTC)  # 3 March 00:00 in Paris
    assert domain.window_refusal(r, paris_midnight - timedelta(seconds=1), ZONE) == \
        domain.NOT_YET_AVAILABLE
    assert domain.window_refusal(r, paris_midnight, ZONE) is None
    last_moment = datetime(2026, 3, 31, 21, 59, 59, tzinfo=UTC)  # 23:59:59 in Paris (CEST)
    assert domain.window_refusal(r, last_moment, ZONE) is None
    assert domain.window_refusal(r, last_moment + timedelta(seconds=1), ZONE) == domain.EXPIRED


def test_reasons_come_most_fundamental_first():
    r = reward(stock=5, limit_per_member={"period": "month", "count": 1},
               eligibility={"tiers": ["gold"], "when": "member.purchase_count > 3"},
               valid_until=date(2026, 3, 1))
    standing = Standing(tier="blue", condition=False, used=1, stock_left=0, available=10)
    assert domain.refusals(r, None, standing, NOW, ZONE) == [
        domain.EXPIRED, domain.TIER_REQUIRED, domain.CONDITION_NOT_MET, domain.LIMIT_REACHED,
        domain.OUT_OF_STOCK, domain.INSUFFICIENT_POINTS]
    ok = Standing(tier="gold", condition=True, used=0, stock_left=1, available=300)
    assert domain.refusals(reward(**{**r.model_dump(), "valid_until": None}), None, ok, NOW,
                           ZONE) == []


def test_tier_and_plan_lists_both_apply():
    r = reward(eligibility={"tiers": ["gold"], "plans": ["plus"]})
    assert domain.membership_refusal(r, None, "gold", None) == domain.PLAN_REQUIRED
    assert domain.membership_refusal(r, None, "blue", "plus") == domain.TIER_REQUIRED
    assert domain.membership_refusal(r, None, "gold", "plus") is None


def test_benefit_rewards_are_exclusive_to_the_levels_and_plans_naming_them():
    doc = document(tiers={"levels": [
        {"id": "blue", "name": "Blue", "threshold": 0},
        {"id": "gold", "name": "Gold", "threshold": 100, "benefits": {"rewards": ["mug"]}}]},
        memberships=[{"id": "plus", "name": "Plus", "price": 100,
                      "benefits": {"rewards": ["mug", "box"]}}])
    holders = domain.benefit_holders(doc)
    assert holders["mug"] == Holders(frozenset({"gold"}), frozenset({"plus"}))
    assert holders["box"] == Holders(frozenset(), frozenset({"plus"}))
    r = reward()
    assert domain.membership_refusal(r, holders["mug"], "blue", None) == domain.TIER_REQUIRED
    assert domain.membership_refusal(r, holders["mug"], "gold", None) is None
    assert domain.membership_refusal(r, holders["mug"], "blue", "plus") is None
    assert domain.membership_refusal(r, holders["box"], "gold", None) == domain.PLAN_REQUIRED


def test_conditions_read_the_member_and_a_broken_one_does_not_hold():
    member = MemberContext("7", MemberProfile(region="North", attributes={"vip": True}),
                           "gold", {"purchase": 4})
    inputs = MemberInputs(member, NOW, (("purchase", "purchase_count"),))
    assert domain.condition_holds('member.profile.region == "North" && member.tier == "gold"',
                                  inputs)
    assert domain.condition_holds("member.purchase_count >= 4", inputs)
    assert not domain.condition_holds("member.purchase_count > 4", inputs)
    assert not domain.condition_holds("member.nope > 1", inputs)  # fails to run
    assert not domain.condition_holds("member.tier ==", inputs)  # does not parse


def test_limits_count_the_current_calendar_period():
    r = reward(limit_per_member={"period": "month", "count": 2})
    times = [datetime(2026, 2, 28, 23, 30, tzinfo=UTC),  # 1 March 00:30 in Paris
             datetime(2026, 2, 27, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)]
    assert domain.used_in_period(r, times, NOW, ZONE) == 2
    assert domain.used_in_period(r, times, NOW, ZoneInfo("UTC")) == 1
    lifetime = reward(limit_per_member={"period": "lifetime", "count": 2})
    assert domain.used_in_period(lifetime, times, NOW, ZONE) == 3


class Row:
    def __init__(self, stock, redeemed, remaining):
        self.stock, self.redeemed, self.remaining = stock, redeemed, remaining


def test_stock_follows_the_document_by_what_is_redeemed():
    assert domain.stock_left(None, Row(5, 5, 0)) is None
    assert domain.stock_left(10, None) == 10
    assert domain.stock_left(10, Row(10, 3, 7)) == 7
    assert domain.stock_left(5, Row(10, 8, 2)) == 0      # lowered below what is redeemed
    assert domain.stock_left(12, Row(5, 8, 0)) == 4      # raised again: exactly 12 - 8
    assert domain.remaining_after(3, 8) == 0


def lot(lot_id, points, remaining, state=LotState.OPEN, expires=None):
    return Lot(lot_id, points, remaining, state, NOW - timedelta(days=10),
               NOW - timedelta(days=10), expires)


def test_refund_goes_back_into_the_lots_it_came_from():
    soon, later = NOW + timedelta(days=5), NOW + timedelta(days=50)
    original = {1: lot(1, 100, 0, LotState.CLOSED, soon), 2: lot(2, 300, 250, expires=later)}
    plan = domain.plan_refund([(1, 100), (2, 50)], original, original, NOW, ExpiryPolicy(365))
    assert plan.restore == ((1, 100), (2, 50)) and plan.new_lots == ()
    assert plan.points == 150


def test_expired_or_departed_points_get_new_lots():
    policy = ExpiryPolicy(days=30)
    original = {1: lot(1, 100, 0, LotState.EXPIRED, NOW - timedelta(days=1)),
                2: lot(2, 100, 0, LotState.CLOSED, NOW - timedelta(hours=1)),
                3: lot(3, 80, 0, LotState.CLOSED, NOW + timedelta(days=9)),
                4: lot(4, 60, 0, LotState.CLOSED, None)}
    home = {1: original[1], 2: original[2], 3: None}  # 3 and 4 left the account
    plan = domain.plan_refund([(1, 100), (2, 40), (3, 80), (4, 60)], home, original, NOW,
                              policy)
    assert plan.restore == ()
    assert [(n.points, n.remaining, n.state, n.expires_at) for n in plan.new_lots] == [
        (80, 80, LotState.OPEN, NOW + timedelta(days=9)),   # keeps its expiry
        (140, 140, LotState.OPEN, NOW + timedelta(days=30)),  # fresh expiry
        (60, 60, LotState.OPEN, None)]
    assert plan.points == 280


def test_a_lot_never_holds_more_than_it_was_created_with():
    # A household transfer's copy started at 40 of the original 100 points.
    original = {1: lot(1, 100, 0, LotState.CLOSED, NOW + timedelta(days=20))}
    home = {1: lot(9, 40, 40, expires=NOW + timedelta(days=20))}
    copy = domain.plan_refund([(1, 60)], home, original, NOW, ExpiryPolicy(365))
    assert copy.restore == () and copy.new_lots[0].points == 60
    home = {1: lot(9, 40, 10, expires=NOW + timedelta(days=20))}
    part = domain.plan_refund([(1, 60)], home, original, NOW, ExpiryPolicy(365))
    assert part.restore == ((9, 30),) and part.new_lots[0].points == 30


def test_fulfilment_moves_on_along_its_steps_and_never_back():
    steps = ("booked", "attended")
    assert domain.step_refusal(steps, True, "booked", "attended") is None
    assert domain.step_refusal(steps, True, "attended", "attended") is None  # a retry
    assert domain.step_refusal(steps, True, "attended", "booked") == "fulfilment_backwards"
    assert domain.step_refusal(steps, False, "booked", "attended") == "redemption_cancelled"
    assert domain.step_refusal(steps, True, "booked", "sent") == "fulfilment_not_tracked"
    assert domain.step_refusal((), True, "donated", "sent") == "fulfilment_not_tracked"


def test_a_product_has_gone_out_once_past_its_first_step():
    steps = domain.GIFT_FULFILMENT
    assert [domain.gone_out(steps, s) for s in steps] == [False, True, True]
    assert not domain.gone_out((), "coupon_issued")
