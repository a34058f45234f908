"""Household rules and lot transfers as pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from patron.households.domain import (HouseholdFull, OwnerCannotLeave, OwnerMustBeAdult,
                                      check_can_leave, check_new_owner, check_room,
                                      leaving_lots, may_spend)
from patron.ledger.domain import EntryStatus, Lot, LotState, transfer

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)


def lot(lot_id: int, remaining: int, state: LotState = LotState.OPEN, *,
        expires_in: int | None = 30) -> Lot:
    expires = T0 + timedelta(days=expires_in) if expires_in is not None else None
    return Lot(lot_id, max(remaining, 100), remaining, state, T0, T0 + timedelta(days=lot_id),
               expires)


def test_owners_and_adults_spend_the_pool_children_do_not():
    assert may_spend("owner") and may_spend("adult")
    assert not may_spend("child") and not may_spend(None)


def test_room_owner_leaving_and_new_owner():
    check_room(3, 4)
    with pytest.raises(HouseholdFull):
        check_room(4, 4)
    check_can_leave("adult")
    with pytest.raises(OwnerCannotLeave):
        check_can_leave("owner")
    check_new_owner("adult")
    with pytest.raises(OwnerMustBeAdult):
        check_new_owner("child")


def test_transfer_moves_posted_and_pending_apart_and_keeps_each_lots_dates():
    lots = [lot(1, 40), lot(2, 0, LotState.CLOSED), lot(3, 25, LotState.PENDING),
            lot(4, 10, expires_in=None), lot(5, 7, LotState.EXPIRED)]
    moved = transfer(lots)
    assert moved.out_posted.points == -50 and moved.in_posted.points == 50
    assert moved.out_posted.moves == ((1, -40), (4, -10))
    assert moved.out_pending.status == moved.in_pending.status == EntryStatus.PENDING
    assert (moved.out_pending.pending_delta, moved.in_pending.pending_delta) == (-25, 25)
    assert moved.in_posted.lifetime_delta == 0
    assert [source for source, _ in moved.copies] == [1, 4, 3]
    copies = {source: copy for source, copy in moved.copies}
    for source in (1, 3, 4):
        original = lots[source - 1]
        assert (copies[source].remaining, copies[source].state, copies[source].expires_at,
                copies[source].available_at, copies[source].earned_at) == (
            original.remaining, original.state, original.expires_at, original.available_at,
            original.earned_at)
    assert (moved.available, moved.pending) == (50, 25)


def test_transfer_of_a_debt_moves_what_is_owed():
    moved = transfer([lot(1, -30, LotState.DEBT)])
    assert moved.out_posted.points == 30 and moved.in_posted.points == -30
    assert moved.copies[0][1].state == LotState.DEBT and moved.copies[0][1].remaining == -30
    assert moved.out_pending is None and moved.in_pending is None


def test_nothing_to_transfer():
    moved = transfer([lot(1, 0, LotState.CLOSED)])
    assert moved.copies == () and moved.out_posted is None and moved.available == 0


def test_a_leaving_member_takes_only_the_remainders_of_their_own_lots():
    pool = [(lot(1, 40), 7), (lot(2, 30), 8), (lot(3, 20, LotState.PENDING), 7),
            (lot(4, 0, LotState.CLOSED), 7), (lot(5, -5, LotState.DEBT), 7)]
    assert [x.id for x in leaving_lots(pool, 7, "leave_with_member")] == [1, 3, 5]
    assert leaving_lots(pool, 7, "stay") == []
