"""The ledger's arithmetic, without a database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.ledger import domain
from patron.ledger.domain import Account, ExpiryPolicy, InsufficientPoints, Lot, LotState

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def lot(lot_id: int, remaining: int, expires: datetime | None, earned: datetime = T0,
        state: LotState = LotState.OPEN) -> Lot:
    return Lot(lot_id, remaining, remaining, state, earned, earned, expires)


def test_spend_takes_soonest_expiring_then_oldest_and_never_expiring_last():
    lots = [lot(1, 50, None), lot(2, 30, T0 + timedelta(days=90)),
            lot(3, 40, T0 + timedelta(days=30)),
            lot(4, 20, T0 + timedelta(days=30), earned=T0 - timedelta(days=5))]
    moves = domain.plan_spend(lots, 100)
    assert moves == ((4, -20), (3, -40), (2, -30), (1, -10))


def test_pending_lots_cannot_be_spent():
    lots = [lot(1, 100, None, state=LotState.PENDING), lot(2, 10, None)]
    with pytest.raises(InsufficientPoints) as err:
        domain.plan_spend(lots, 50)
    assert err.value.extra == {"available": 10, "requested": 50}


def test_expiry_rounds_to_end_of_month_in_program_timezone():
    policy = ExpiryPolicy(days=30, round_to_month_end=True, timezone="America/New_York")
    # 30 days after 10 Jan is 9 Feb; the lot lives until the end of February, New York time.
    assert domain.lot_expiry(T0, policy) == datetime(2026, 3, 1, 5, 0, tzinfo=timezone.utc)
    assert domain.lot_expiry(T0, ExpiryPolicy(days=None)) is None
    assert domain.lot_expiry(T0, ExpiryPolicy(days=30)) == T0 + timedelta(days=30)


def test_pending_lot_starts_its_expiry_clock_when_released():
    new = domain.new_lot(1, 100, occurred_at=T0, pending_days=14, policy=ExpiryPolicy(days=10))
    assert new.state is LotState.PENDING
    assert new.available_at == T0 + timedelta(days=14)
    assert new.expires_at == T0 + timedelta(days=24)


@pytest.mark.parametrize(("mode", "expected"), [("floor", 12), ("ceiling", 13),
                                                 ("half_up", 13), ("half_even", 12)])
def test_points_for_amount_rounds_once_with_the_named_mode(mode, expected):
    # $12.50 at 1 point per dollar
    assert domain.points_for_amount(1250, 2, Decimal(1), mode) == expected


def test_points_for_amount_respects_currency_exponent():
    assert domain.points_for_amount(1500, 0, Decimal("0.01"), "floor") == 15  # JPY
    assert domain.points_for_amount(1500, 3, Decimal(10), "floor") == 15  # BHD


def test_release_and_expiry_move_points_between_balances():
    account = Account(policy=ExpiryPolicy(days=30))
    account.earn(100, T0, pending_days=14)
    assert (account.available, account.pending) == (0, 100)
    with pytest.raises(InsufficientPoints):
        account.spend(1)
    account.release_due(T0 + timedelta(days=13))
    assert account.pending == 100
    account.release_due(T0 + timedelta(days=14))
    assert (account.available, account.pending) == (0 + 100, 0)
    account.spend(30)
    [posting] = account.expire_due(T0 + timedelta(days=44))
    assert posting.points == -70
    assert account.available == 0


def check_invariants(account: Account) -> None:
    lots = account.lots.values()
    open_sum = sum(x.remaining for x in lots if x.state == LotState.OPEN)
    pending_sum = sum(x.remaining for x in lots if x.state == LotState.PENDING)
    posted = sum(p.points for p in account.entries if p.status == domain.EntryStatus.POSTED)
    pending_entries = sum(p.points for p in account.entries
                          if p.status == domain.EntryStatus.PENDING)
    released = sum(p.points for p in account.entries if p.kind == domain.EntryKind.RELEASE)
    assert account.available == open_sum == posted >= 0
    assert account.pending == pending_sum == pending_entries - released >= 0
    assert all(x.remaining >= 0 for x in lots)
    assert all(x.remaining == 0 for x in lots if x.state in (LotState.CLOSED, LotState.EXPIRED))


operation = st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 500), st.sampled_from([None, 0, 3, 10])),
    st.tuples(st.just("spend"), st.integers(1, 800)),
    st.tuples(st.just("advance"), st.integers(0, 40)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(operation, max_size=60), st.sampled_from([None, 5, 20]),
       st.booleans())
def test_any_sequence_keeps_the_ledger_exact(ops, expiry_days, month_end):
    account = Account(policy=ExpiryPolicy(days=expiry_days, round_to_month_end=month_end))
    now = T0
    for op in ops:
        if op[0] == "earn":
            account.earn(op[1], now, pending_days=op[2])
        elif op[0] == "spend":
            before = account.available
            try:
                account.spend(op[1])
                assert account.available == before - op[1]
            except InsufficientPoints:
                assert before < op[1]
        else:
            now += timedelta(days=op[1])
            account.release_due(now)
            account.expire_due(now)
        check_invariants(account)
    # Nothing that is due survives a sweep.
    account.release_due(now)
    account.expire_due(now)
    assert not domain.due_for_release(account.lots.values(), now)
    assert not domain.due_for_expiry(account.lots.values(), now)
    check_invariants(account)


def test_expiries_group_due_lots_by_the_local_day_they_expired():
    """One entry per expiry day in the program's timezone, dated at its last lot's expiry."""
    new_york = ZoneInfo("America/New_York")
    jan_31_late = datetime(2026, 2, 1, 3, 0, tzinfo=timezone.utc)   # 22:00 on 31 January there
    feb_1 = datetime(2026, 2, 1, 6, 0, tzinfo=timezone.utc)         # 01:00 on 1 February
    due = [lot(1, 10, jan_31_late - timedelta(hours=5)), lot(2, 20, jan_31_late),
           lot(3, 0, feb_1), lot(4, 5, feb_1 + timedelta(hours=12)),
           lot(5, 7, T0)]
    found = domain.expiries(due, new_york)
    assert [(e.at, [x.id for x in e.lots], e.posting.points if e.posting else None)
            for e in found] == [(T0, [5], -7), (jan_31_late, [1, 2], -30),
                                (feb_1 + timedelta(hours=12), [3, 4], -5)]
    assert domain.expiries([lot(6, 0, T0)], new_york)[0].posting is None
