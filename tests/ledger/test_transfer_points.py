"""Giving points from one account to another: the planning, without a database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.ledger import domain
from patron.ledger.domain import Account, ExpiryPolicy, InsufficientPoints, Lot, LotState

T0 = datetime(2026, 1, 10, 9, 0, tzinfo=timezone.utc)


def lot(lot_id: int, remaining: int, expires: datetime | None, earned: datetime = T0,
        state: LotState = LotState.OPEN) -> Lot:
    return Lot(lot_id, remaining + 5, remaining, state, earned, earned + timedelta(hours=1),
               expires)


def test_pieces_come_soonest_expiring_first_and_keep_their_dates():
    lots = [lot(1, 50, None), lot(2, 30, T0 + timedelta(days=90)),
            lot(3, 40, T0 + timedelta(days=30), earned=T0 - timedelta(days=3)),
            lot(4, 500, None, state=LotState.PENDING)]
    plan = domain.transfer_points(lots, 100)
    assert plan.out.moves == ((3, -40), (2, -30), (1, -30))
    assert (plan.out.points, plan.out.available_delta, plan.out.lifetime_delta) == (-100, -100, 0)
    assert (plan.into.points, plan.into.available_delta, plan.into.lifetime_delta) == (100, 100, 0)
    assert plan.into.moves == ()
    by_id = {x.id: x for x in lots}
    for source_id, piece in plan.pieces:
        source = by_id[source_id]
        assert piece.state is LotState.OPEN and piece.points == piece.remaining
        assert (piece.expires_at, piece.earned_at, piece.available_at) == (
            source.expires_at, source.earned_at, source.available_at)
    assert [piece.points for _, piece in plan.pieces] == [40, 30, 30]


def test_pending_points_and_debts_are_not_given():
    lots = [lot(1, 100, None, state=LotState.PENDING), lot(2, 30, None),
            Lot(3, -20, -20, LotState.DEBT, T0, T0, None)]
    with pytest.raises(InsufficientPoints) as refused:
        domain.transfer_points(lots, 31)
    assert refused.value.extra == {"available": 30, "requested": 31}
    with pytest.raises(ValueError):
        domain.transfer_points(lots, 0)


amounts = st.integers(min_value=1, max_value=500)
expiries = st.one_of(st.none(), st.integers(min_value=0, max_value=400))


@given(st.lists(st.tuples(amounts, expiries), min_size=1, max_size=12), st.data())
def test_a_transfer_conserves_points_piece_by_piece(spec, data):
    lots = [lot(i + 1, points, None if days is None else T0 + timedelta(days=days))
            for i, (points, days) in enumerate(spec)]
    total = sum(x.remaining for x in lots)
    points = data.draw(st.integers(min_value=1, max_value=total))
    plan = domain.transfer_points(lots, points)
    assert -sum(delta for _, delta in plan.out.moves) == points
    assert sum(piece.points for _, piece in plan.pieces) == points == plan.into.points
    by_id = {x.id: x for x in lots}
    for (source_id, delta), (piece_source, piece) in zip(plan.out.moves, plan.pieces):
        assert source_id == piece_source and piece.points == -delta
        assert piece.expires_at == by_id[source_id].expires_at
    taken = {source_id for source_id, _ in plan.pieces}
    kept = [x for x in lots if x.id not in taken]
    last = max((domain.spend_order(by_id[i]) for i in taken))
    assert all(domain.spend_order(x) > last for x in kept)   # nothing sooner was left behind


operation = st.one_of(
    st.tuples(st.just("earn"), st.booleans(), amounts),
    st.tuples(st.just("spend"), st.booleans(), amounts),
    st.tuples(st.just("give"), st.booleans(), amounts),
    st.tuples(st.just("wait"), st.booleans(), st.integers(min_value=1, max_value=20)),
)


@given(st.lists(operation, max_size=50), st.sampled_from([None, 7, 30]))
def test_two_accounts_giving_to_each_other_stay_exact_and_conserve_points(ops, expiry_days):
    policy = ExpiryPolicy(days=expiry_days)
    accounts = (Account(policy=policy), Account(policy=policy))
    now = T0
    earned = spent = 0
    for kind, first, amount in ops:
        account, other = accounts if first else accounts[::-1]
        if kind == "earn":
            account.earn(amount, now)
            earned += amount
        elif kind == "wait":
            now += timedelta(days=amount)
            for each in accounts:
                each.expire_due(now)
        elif amount <= account.available:
            if kind == "spend":
                account.spend(amount)
                spent += amount
            else:
                account.give(amount, other)
    expired = -sum(p.points for a in accounts for p in a.entries
                   if p.kind == domain.EntryKind.EXPIRE)
    assert sum(a.available for a in accounts) == earned - spent - expired
    for each in accounts:
        assert each.available == sum(x.remaining for x in each.lots.values()
                                     if x.state == LotState.OPEN) >= 0
        assert each.available == sum(p.points for p in each.entries)
        assert each.lifetime_earned == sum(p.points for p in each.entries
                                           if p.kind == domain.EntryKind.EARN)
