"""Point transfers on SQLite and PostgreSQL: limits, households, returns, expiry, races."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from patron.households.domain import HouseholdRoleForbidden
from patron.ledger import jobs
from patron.ledger.domain import InsufficientPoints
from patron.members.service import MemberNotFound
from patron.transfers.domain import (SameHousehold, SenderNotActive, TransferAboveMaximum,
                                     TransferDailyLimit, TransfersDisabled)
from tests.concurrency import race
from tests.transfers.factories import POOLED, Club


# --------------------------------------------------------------------------- limits

def test_transfers_are_off_until_the_document_turns_them_on(database, clock):
    club = Club(database, clock, {})
    sender, receiver = club.member(points=100), club.member()
    with pytest.raises(TransfersDisabled):
        club.send(sender, receiver, 50)
    club.publish({"enabled": True})
    club.send(sender, receiver, 50)
    assert (club.points(sender), club.points(receiver)) == (50, 50)


def test_per_transfer_maximum(database, clock):
    club = Club(database, clock, {"enabled": True, "maximum_points": 200})
    sender, receiver = club.member(points=1000), club.member()
    with pytest.raises(TransferAboveMaximum) as refused:
        club.send(sender, receiver, 201)
    assert refused.value.extra["maximum_points"] == 200
    club.send(sender, receiver, 200)
    assert club.points(receiver) == 200


def test_daily_maximum_counts_the_days_earlier_transfers_and_says_what_is_left(database, clock):
    club = Club(database, clock, {"enabled": True, "daily_maximum_points": 500})
    sender, first, second = club.member(points=2000), club.member(), club.member()
    club.send(sender, first, 300)
    club.send(sender, second, 150)
    with pytest.raises(TransferDailyLimit) as refused:
        club.send(sender, first, 100)
    assert refused.value.extra == {"daily_maximum_points": 500, "sent_today": 450,
                                   "remaining_points": 50, "requested": 100,
                                   "local_day": "2026-03-02"}
    club.send(second, sender, 150)            # what the sender receives does not count
    club.send(sender, first, 50)
    with pytest.raises(TransferDailyLimit):
        club.send(sender, first, 1)
    club.send(first, second, 350)             # each member has their own allowance
    clock.advance(days=1)
    club.send(sender, first, 500)
    assert club.points(sender) == 2000 - 1000 + 150


def test_the_day_is_the_program_timezones_day(database, clock):
    club = Club(database, clock, {"enabled": True, "daily_maximum_points": 500},
                settings={"timezone": "Asia/Tokyo"})
    sender, receiver = club.member(points=2000), club.member()
    clock.set(datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc))   # 21:00 on 2 March in Tokyo
    assert str(club.send(sender, receiver, 400).local_day) == "2026-03-02"
    clock.set(datetime(2026, 3, 2, 14, 59, tzinfo=timezone.utc))  # 23:59 in Tokyo
    with pytest.raises(TransferDailyLimit) as refused:
        club.send(sender, receiver, 200)
    assert refused.value.extra["remaining_points"] == 100
    clock.set(datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc))   # midnight in Tokyo, not UTC
    late = club.send(sender, receiver, 500)
    assert str(late.local_day) == "2026-03-03"
    assert club.points(receiver) == 900


def test_only_available_points_can_be_given_never_pending_ones_nor_into_debt(database, clock):
    club = Club(database, clock, settings={"pending_days": 14})
    sender, receiver = club.member(points=40), club.member()
    club.purchase(sender, 100_00, "P-1")                 # 100 points pending for 14 days
    assert club.balance(sender).pending == 100
    with pytest.raises(InsufficientPoints) as refused:
        club.send(sender, receiver, 41)
    assert refused.value.extra == {"available": 40, "requested": 41}
    club.send(sender, receiver, 40)
    with pytest.raises(InsufficientPoints):
        club.send(sender, receiver, 1)
    account = club.exact(member_id=sender)
    assert (account.available, account.pending) == (0, 100)
    assert club.points(receiver) == 40


def test_an_account_that_owes_points_cannot_give_and_a_receiver_that_owes_pays_off(database,
                                                                                   clock):
    club = Club(database, clock, settings={"negative_balance": "allow_negative"})
    debtor, friend = club.member(), club.member(points=100)
    club.purchase(debtor, 50_00, "D-1")
    club.send(debtor, friend, 50)
    club.return_order(debtor, "D-1")                      # the 50 were given away: owed
    assert club.points(debtor) == -50
    with pytest.raises(InsufficientPoints):
        club.send(debtor, friend, 1)
    club.send(friend, debtor, 80)
    account = club.exact(member_id=debtor)
    assert account.available == 30
    assert [e.kind for e in club.ledger(debtor)][:2] == ["settle", "transfer"]


def test_members_who_are_not_active_neither_send_nor_receive(database, clock):
    club = Club(database, clock)
    sender, receiver = club.member(points=100), club.member()
    club.set_status(sender, "suspended")
    with pytest.raises(SenderNotActive) as refused:
        club.send(sender, receiver, 10)
    assert refused.value.extra == {"member_id": sender, "status": "suspended"}
    assert club.points(receiver) == 0


# --------------------------------------------------------------------------- households

def test_a_pooled_sender_gives_from_the_pool_and_a_pooled_receiver_gets_it_in_theirs(database,
                                                                                      clock):
    club = Club(database, clock, households=POOLED)
    owner, adult = club.member(), club.member(points=300)
    smiths = club.household(owner)
    club.join(smiths.id, adult)
    other_owner, child = club.member(), club.member()
    joneses = club.household(other_owner)
    club.join(joneses.id, child, role="child")

    transfer = club.send(adult, child, 120)
    assert club.exact(member_id=smiths.account_member_id).available == 180
    assert club.exact(member_id=joneses.account_member_id).available == 120
    assert club.points(child) == 120 and club.points(other_owner) == 120
    out = next(e for e in club.ledger(adult) if e.id == transfer.out_entry_id)
    assert (out.kind, out.member_id, out.points, out.reason) == (
        "transfer", adult, -120, f"Sent 120 points to member {child}")
    into = next(e for e in club.ledger(child) if e.id == transfer.in_entry_id)
    assert (into.kind, into.member_id, into.points) == ("transfer", child, 120)

    with pytest.raises(HouseholdRoleForbidden):       # a child does not spend the pool
        club.send(child, adult, 10)
    with pytest.raises(SameHousehold):
        club.send(adult, owner, 10)
    with pytest.raises(MemberNotFound):               # a pool's holder is not a member
        club.send(adult, joneses.account_member_id, 10)
    assert club.exact(member_id=smiths.account_member_id).available == 180


# --------------------------------------------------------------------------- returns, expiry

@pytest.mark.parametrize(("policy", "sender_after"), [("allow_negative", -60),
                                                      ("clawback_available_only", 0)])
def test_a_return_after_a_transfer_takes_back_from_the_sender_not_the_receiver(
        database, clock, policy, sender_after):
    club = Club(database, clock, settings={"negative_balance": policy})
    sender, receiver = club.member(), club.member(points=10)
    club.purchase(sender, 60_00, "R-1")
    club.send(sender, receiver, 60)
    back = club.return_order(sender, "R-1")
    assert back.status == "processed" and back.points == sender_after
    assert [a.forgiven for a in back.awards] == [None if sender_after else 60]
    assert club.exact(member_id=sender).available == sender_after
    assert club.exact(member_id=receiver).available == 70


def test_given_points_keep_their_expiry_and_the_expiry_sweep_takes_them(database, clock):
    club = Club(database, clock, settings={"expiry": {"days": 30}})
    sender, receiver = club.member(points=100), club.member()
    clock.advance(days=10)
    club.give(sender, 100)
    transfer = club.send(sender, receiver, 150)
    assert [lot.points for lot in transfer.lots] == [100, 50]
    clock.advance(days=21)                                   # day 31: the first lot is due
    jobs.run_all(database, clock.now())
    assert (club.points(sender), club.points(receiver)) == (50, 50)
    clock.advance(days=10)                                   # day 41: the second
    jobs.run_all(database, clock.now())
    assert (club.points(sender), club.points(receiver)) == (0, 0)
    expiries = [e for e in club.ledger(receiver) if e.kind == "expire"]
    assert sorted(e.points for e in expiries) == [-100, -50]
    club.exact(member_id=sender)
    club.exact(member_id=receiver)


# --------------------------------------------------------------------------- races

def test_ten_transfers_at_once_with_points_for_three(database, clock):
    club = Club(database, clock)
    sender = club.member(points=300)
    receivers = [club.member() for _ in range(10)]
    outcomes = race(10, lambda n: club.send(sender, receivers[n], 100, key=f"burst-{n}"))
    assert outcomes == {"ok": 3, "insufficient_points": 7}
    assert club.exact(member_id=sender).available == 0
    assert sum(club.points(r) for r in receivers) == 300
    assert len(club.transfers(sender).items) == 3


def test_two_members_giving_to_each_other_at_once_never_deadlock(database, clock):
    club = Club(database, clock)
    alice, bob = club.member(points=1000), club.member(points=1000)
    for round_ in range(4):
        outcomes = race(12, lambda n: club.send(
            *((alice, bob) if n % 2 else (bob, alice)), 10 + n, key=f"{round_}-{n}",
            attempts=1))                       # a deadlock would fail instead of retrying
        assert outcomes == {"ok": 12}
    assert club.exact(member_id=alice).available + club.exact(member_id=bob).available == 2000
    assert len(club.transfers(alice).items) == 48


def test_transfers_at_once_never_pass_the_daily_maximum(database, clock):
    club = Club(database, clock, {"enabled": True, "daily_maximum_points": 500})
    sender = club.member(points=5000)
    receivers = [club.member() for _ in range(10)]
    outcomes = race(10, lambda n: club.send(sender, receivers[n], 100))
    assert outcomes == {"ok": 5, "transfer_daily_limit": 5}
    assert club.points(sender) == 4500
    assert sum(club.points(r) for r in receivers) == 500


def test_simultaneous_retries_of_one_key_transfer_once(database, clock):
    club = Club(database, clock)
    sender, receiver = club.member(points=1000), club.member()
    outcomes = race(6, lambda n: club.send(sender, receiver, 100, key="same"))
    assert outcomes == {"ok": 6}
    assert (club.points(sender), club.points(receiver)) == (900, 100)
