"""Redeeming and cancelling on SQLite and PostgreSQL: races, retries, refunds into the
lots the points came from, what each reward kind produces and takes back, and the
``RewardRedeemed`` happening a redemption emits in its own transaction."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from patron import hooks
from patron.coupons import checkout
from patron.coupons.schemas import OrderIn, RedeemRequest
from patron.errors import Conflict, IdempotencyKeyReused, PatronError
from patron.flows.reward_kinds import CashbackSpent
from patron.ledger import jobs
from patron.ledger.domain import InsufficientPoints
from patron.ledger.service import holding_of
from patron.rewards import repository, service
from patron.wallet.service import spend as wallet_spend
from patron.wallet.service import wallet
from tests.concurrency import race
from tests.listening import heard
from tests.rewards.factories import Store

STICKER = {"id": "sticker", "name": "Sticker", "type": "gift", "cost_points": 100}
LAST_MUG = {"id": "mug", "name": "Mug", "type": "gift", "cost_points": 300, "stock": 1}


@pytest.fixture
def redeemed():
    """Every ``RewardRedeemed`` emitted during the test, with what its transaction showed:
    the redemption row and the member's available points, read through the emitting
    connection. The test's subscriber goes when the test ends."""
    kind = hooks.RewardRedeemed
    seen: list[tuple[hooks.RewardRedeemed, object, int]] = []

    def record(conn, happened: hooks.RewardRedeemed) -> None:
        row = repository.redemption(conn, happened.program.id, happened.redemption_id)
        available = holding_of(conn, happened.program, happened.member_id).account.available
        seen.append((happened, row, available))

    with heard(kind, record):
        yield seen


def test_one_member_firing_ten_redemptions_with_points_for_three(database, clock):
    store = Store(database, clock, [STICKER])
    member = store.member(points=300)
    outcomes = race(10, lambda n: store.redeem(member, "sticker", key=f"burst-{n}"))
    assert outcomes == {"ok": 3, "insufficient_points": 7}
    assert store.points(member) == 0
    page = database.read(lambda conn: service.member_redemptions(conn, store.program, member,
                                                                 None, 50))
    assert len(page.items) == 3
    store.assert_exact(member)


def test_simultaneous_retries_of_one_key_redeem_once(database, clock):
    store = Store(database, clock)
    member = store.member(points=1000)
    outcomes = race(6, lambda n: store.redeem(member, "mug", key="same"))
    assert outcomes == {"ok": 6}
    assert store.points(member) == 700
    assert store.stock("mug").remaining == 9
    store.assert_exact(member)


def test_retry_returns_the_first_redemption_and_spends_nothing(database, clock):
    store = Store(database, clock)
    member = store.member(points=1000)
    first = store.redeem(member, "coffee", key="k1")
    again = store.redeem(member, "coffee", key="k1")
    assert again.id == first.id and again.coupon_code == first.coupon_code
    assert store.points(member) == 900
    with pytest.raises(IdempotencyKeyReused):
        store.redeem(member, "mug", key="k1")
    store.cancel(first.id)
    after_cancel = store.redeem(member, "coffee", key="k1")
    assert (after_cancel.id, after_cancel.status) == (first.id, "cancelled")
    assert store.points(member) == 1000
    store.assert_exact(member)


def test_cancel_puts_points_back_into_their_lots_and_the_stock_back(database, clock):
    store = Store(database, clock, settings={"expiry": {"days": 30}})
    member = store.member(points=100)                # lot A, expires in 30 days
    store.advance(days=5)
    store.give(member, 500)                          # lot B, expires in 35 days
    [lot_a, lot_b] = store.lots(member)
    mug = store.redeem(member, "mug")
    assert [(m.lot_id, m.points) for m in mug.lots] == [(lot_a, -100), (lot_b, -200)]
    assert {i: v[:2] for i, v in store.lots(member).items()} == {
        lot_a: (0, "closed"), lot_b: (300, "open")}
    assert store.stock("mug").remaining == 9

    cancelled = store.cancel(mug.id, reason="changed my mind")
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "changed my mind")
    assert {i: v[:2] for i, v in store.lots(member).items()} == {
        lot_a: (100, "open"), lot_b: (500, "open")}
    assert store.points(member) == 600
    stock = store.stock("mug")
    assert (stock.remaining, stock.redeemed) == (10, 0)
    store.assert_exact(member)

    twice = store.cancel(mug.id)
    assert twice.refund_entry_id == cancelled.refund_entry_id
    assert store.points(member) == 600 and store.stock("mug").remaining == 10
    store.assert_exact(member)


def test_points_of_a_lot_that_expired_meanwhile_come_back_in_a_fresh_lot(database, clock):
    store = Store(database, clock, settings={"expiry": {"days": 30}})
    member = store.member(points=400)                # lot A, expires at T0+30
    store.advance(days=5)
    store.give(member, 500)                          # lot B, expires at T0+35
    [lot_a, lot_b] = store.lots(member)
    mug = store.redeem(member, "mug")                # all 300 from A
    store.advance(days=26)                           # past A's expiry
    jobs.run_all(database, clock.now())              # A's last 100 points expire
    assert store.points(member) == 500
    store.cancel(mug.id)
    lots = store.lots(member)
    assert lots[lot_a][:2] == (0, "expired")
    assert lots[lot_b][:2] == (500, "open")
    [fresh] = [i for i in lots if i not in (lot_a, lot_b)]
    assert lots[fresh] == (300, "open", clock.now() + timedelta(days=30))
    assert store.points(member) == 800
    store.assert_exact(member)


def test_a_used_coupon_cannot_be_cancelled(database, clock):
    store = Store(database, clock)
    member = store.member(points=500)
    kept, used = store.redeem(member, "coffee"), store.redeem(member, "coffee")
    assert used.fulfilment == "coupon_issued" and used.coupon_code
    request = RedeemRequest(order_id="o-1", member_id=member,
                            order=OrderIn(subtotal=2000, currency="USD"))
    database.transact(lambda conn: checkout.redeem(conn, store.program, used.coupon_code,
                                                   request, now=clock.now(), actor="test"))
    with pytest.raises(PatronError) as refused:
        store.cancel(used.id)
    assert (refused.value.code, refused.value.status) == ("coupon_used", 409)
    assert store.points(member) == 300
    store.cancel(kept.id)
    assert store.points(member) == 400
    store.assert_exact(member)


def test_cashback_goes_to_the_wallet_and_comes_back_on_cancel(database, clock):
    store = Store(database, clock)
    member = store.member(points=1000)
    cash = store.redeem(member, "cash5")
    assert (cash.fulfilment, cash.cashback_amount, cash.currency) == (
        "cashback_credited", 500, "USD")
    money = lambda: database.read(  # noqa: E731
        lambda conn: wallet(conn, store.program, member))["balance"]
    assert money() == 500
    store.cancel(cash.id)
    assert (money(), store.points(member)) == (0, 1000)
    spent = store.redeem(member, "cash5")
    database.transact(lambda conn: wallet_spend(conn, store.program, member, amount=300,
                                                order_id="o-2", key="w1", actor="test",
                                                now=clock.now()))
    with pytest.raises(CashbackSpent):
        store.cancel(spent.id)
    assert (money(), store.points(member)) == (200, 750)
    store.assert_exact(member)


def test_a_pooled_member_redeems_from_the_pool_and_is_refunded_there(database, clock):
    from patron.households import service as households
    from patron.households.schemas import HouseholdCreate

    store = Store(database, clock, settings={"expiry": {"days": 90}},
                  households={"pooled_points": True})
    owner = store.member(points=1000)
    before_joining = store.redeem(owner, "mug")       # 300 from the owner's own lot
    [own_lot] = store.lots(owner)
    home = database.transact(lambda conn: households.create_household(
        conn, store.program, HouseholdCreate(name="The Smiths", owner_member_id=owner),
        now=clock.now(), actor="test"))
    assert store.points(owner) == 700                 # the pool's balance now
    assert store.lots(owner)[own_lot][:2] == (0, "closed")  # its 700 moved to the pool
    in_pool = store.redeem(owner, "mug")
    assert store.points(owner) == 400
    store.cancel(in_pool.id)
    store.cancel(before_joining.id)
    assert store.points(owner) == 1000
    assert store.lots(owner)[own_lot][:2] == (0, "closed")  # nothing stranded at home
    pool = database.read(lambda conn: households.repository.household_row(
        conn, store.program.id, home.id).account_id)

    def pool_state(conn):
        from patron.ledger import repository as ledger
        account = ledger.account_row(conn, pool)
        return account.available, ledger.ledger_totals(conn, pool), ledger.live_lots(conn, pool)
    available, totals, lots = database.read(pool_state)
    assert available == totals["available"] == totals["open_lots"] == 1000
    # The copy of the owner's lot is whole again (700); the 300 spent before it moved
    # cannot fit in it and come back as a lot with the same expiry.
    assert sorted((lot.points, lot.remaining) for lot in lots) == [(300, 300), (700, 700)]
    assert len({lot.expires_at for lot in lots}) == 1


def test_cancelling_cashback_races_a_wallet_spend_of_it_and_one_wins(database, clock):
    """Where balances may go negative, a cancellation still takes all the cashback or none."""
    store = Store(database, clock, settings={"negative_balance": "allow_negative"})
    money = lambda member: database.read(  # noqa: E731
        lambda conn: wallet(conn, store.program, member))["balance"]
    seen: Counter = Counter()
    for round_ in range(6):
        member = store.member(points=1000)
        cash = store.redeem(member, "cash5")

        def attempt(n: int) -> None:
            if n == 0:
                store.cancel(cash.id)
            else:
                database.transact(lambda conn: wallet_spend(
                    conn, store.program, member, amount=500, order_id=None,
                    key=f"race-{round_}", actor="test", now=clock.now()))
        outcomes = race(2, attempt)
        assert outcomes["ok"] == 1, outcomes
        assert set(outcomes) <= {"ok", "cashback_spent", "insufficient_funds"}
        cancelled = outcomes["insufficient_funds"] == 1
        seen["cancel" if cancelled else "spend"] += 1
        assert money(member) == 0
        assert store.points(member) == (1000 if cancelled else 750)
        store.assert_exact(member)
    assert sum(seen.values()) == 6


def test_a_wallet_spend_in_flight_makes_the_cancellation_refuse(database, clock):
    """The spend has debited but not committed when the cancellation starts: the
    cancellation waits for it, then finds the money gone."""
    store = Store(database, clock, settings={"negative_balance": "allow_negative"})
    member = store.member(points=1000)
    cash = store.redeem(member, "cash5")
    debited, release = threading.Event(), threading.Event()

    def spend_and_hold(conn):
        wallet_spend(conn, store.program, member, amount=500, order_id=None, key="held",
                     actor="test", now=clock.now())
        debited.set()
        assert release.wait(10)
    spender = threading.Thread(target=lambda: database.transact(spend_and_hold))
    spender.start()
    assert debited.wait(10)
    errors: list[PatronError] = []

    def cancel() -> None:
        try:
            store.cancel(cash.id)
        except PatronError as exc:
            errors.append(exc)
    canceller = threading.Thread(target=cancel)
    canceller.start()
    canceller.join(0.5)  # waiting on the spend's lock
    release.set()
    spender.join()
    canceller.join()
    assert [(e.code, e.status) for e in errors] == [("cashback_spent", 409)]
    balance = database.read(lambda conn: wallet(conn, store.program, member))["balance"]
    assert (balance, store.points(member)) == (0, 750)
    assert store.db.read(lambda conn: service.get_redemption(conn, store.program,
                                                             cash.id)).status == "active"


# --------------------------------------------------------------------------- RewardRedeemed

def test_a_redemption_emits_reward_redeemed_in_its_transaction(database, clock, redeemed):
    store = Store(database, clock)
    member = store.member(points=1000)
    mug = store.redeem(member, "mug")
    [(happened, row, available)] = redeemed
    assert (happened.program.id, happened.member_id, happened.redemption_id) == (
        store.program.id, member, mug.id)
    assert (happened.reward_id, happened.reward_type, happened.points, happened.at) == (
        "mug", "gift", 300, clock.now())
    assert (row.status, available) == ("active", 700)   # seen before the commit


def test_a_retried_redemption_emits_nothing_more(database, clock, redeemed):
    store = Store(database, clock)
    member = store.member(points=1000)
    store.redeem(member, "coffee", key="k1")
    store.redeem(member, "coffee", key="k1")
    assert len(redeemed) == 1


def test_a_refused_redemption_emits_nothing(database, clock, redeemed):
    store = Store(database, clock, [LAST_MUG])
    poor, first, second = (store.member(points=points) for points in (299, 300, 300))
    with pytest.raises(InsufficientPoints):
        store.redeem(poor, "mug")
    assert redeemed == []
    store.redeem(first, "mug")
    with pytest.raises(service.OutOfStock):
        store.redeem(second, "mug")
    assert [happened.member_id for happened, _, _ in redeemed] == [first]


def test_a_subscriber_refusing_reward_redeemed_refuses_the_redemption(database, clock,
                                                                      redeemed):
    class NotToday(Conflict):
        code, title = "not_today", "Not today"

    def refuse(conn, happened: hooks.RewardRedeemed) -> None:
        raise NotToday("no mugs today")

    store = Store(database, clock)
    member = store.member(points=1000)
    with heard(hooks.RewardRedeemed, refuse), pytest.raises(NotToday):
        store.redeem(member, "mug")
    assert store.points(member) == 1000 and store.stock("mug") is None
    page = database.read(lambda conn: service.member_redemptions(conn, store.program, member,
                                                                 None, 50))
    assert page.items == []
