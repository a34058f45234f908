"""The ledger announces points earned, spent and expired in the writing transaction."""

from __future__ import annotations

import pytest

from patron import hooks
from patron.errors import Conflict
from patron.ledger import jobs, repository
from patron.ledger.domain import InsufficientPoints
from patron.ledger.service import adjust_points, spend_points
from tests.conftest import make_program
from tests.flows.test_ingest import BASE, Shop
from tests.ledger.test_service import new_member
from tests.listening import heard


def spend(db, program, clock, member_id, points, key="s-1"):
    return db.transact(lambda conn: spend_points(conn, program, member_id, points=points,
                                                 reason="coffee", key=key, actor="till",
                                                 now=clock.now()))


def adjust(db, program, clock, member_id, points, key):
    return db.transact(lambda conn: adjust_points(conn, program, member_id, points=points,
                                                  reason="goodwill", key=key, actor="desk",
                                                  now=clock.now()))


def available_now(conn, happened):
    """What the member's account holds, read in the announcing transaction."""
    [move] = happened.moves
    return repository.account_row(conn, move.account_id).available


def test_an_adjustment_up_is_announced_as_earned_inside_its_transaction(database, program,
                                                                         clock):
    member_id = new_member(database, program, clock)
    seen = []
    with heard(hooks.PointsEarned, lambda conn, h: seen.append(available_now(conn, h))) as got:
        adjust(database, program, clock, member_id, 70, "a-1")
        adjust(database, program, clock, member_id, 70, "a-1")  # a retry writes nothing
    [earned] = got
    [move] = earned.moves
    assert earned.program.id == program.id
    assert (move.member_id, move.points, move.kind, move.reason, move.at) == (
        member_id, 70, "adjust", "goodwill", clock.now())
    assert seen == [70]


def test_spends_and_adjustments_down_are_announced_as_spent(database, program, clock):
    member_id = new_member(database, program, clock, points=300)
    seen = []
    with heard(hooks.PointsSpent, lambda conn, h: seen.append(available_now(conn, h))) as got:
        posted = spend(database, program, clock, member_id, 120)
        spend(database, program, clock, member_id, 120)  # the same key: nothing new
        adjust(database, program, clock, member_id, -30, "a-down")
    assert [(m.member_id, m.points, m.kind) for h in got for m in h.moves] == [
        (member_id, 120, "spend"), (member_id, 30, "adjust")]
    assert got[0].moves[0].entry_id == posted.entry.id
    assert seen == [180, 150]


def test_a_refused_spend_announces_nothing(database, program, clock):
    member_id = new_member(database, program, clock, points=50)
    with heard(hooks.PointsSpent) as got, pytest.raises(InsufficientPoints):
        spend(database, program, clock, member_id, 80)
    assert got == []


def test_a_subscriber_that_refuses_undoes_the_spend(database, program, clock):
    member_id = new_member(database, program, clock, points=50)

    def refuse(conn, happened):
        raise Conflict("not today")

    with heard(hooks.PointsSpent, refuse), pytest.raises(Conflict):
        spend(database, program, clock, member_id, 20)
    assert database.read(lambda conn: repository.accounts_by_member(
        conn, program.id, [member_id])[member_id].available) == 50


def test_an_ingest_batch_is_announced_as_one_earning(database, clock):
    shop = Shop(database, clock, [BASE])
    ann, bob = shop.member(), shop.member()
    with heard(hooks.PointsEarned) as got:
        shop.send(shop.purchase(ann, [("A", "x", 1, 12_00)]),
                  shop.purchase(bob, [("B", "x", 1, 30_00)]))
    [earned] = got
    assert sorted((m.member_id, m.points, m.kind) for m in earned.moves) == sorted(
        [(ann, 12, "earn"), (bob, 30, "earn")])


def test_the_expiry_sweep_announces_what_expired_per_program_and_batch(database, clock):
    program = make_program(database, clock, pending_days=0, expiry={"days": 30})
    ann = new_member(database, program, clock, points=100)      # expires T0+30
    clock.advance(days=2)
    adjust(database, program, clock, ann, 40, "later")            # expires T0+32
    bob = new_member(database, program, clock, points=5)
    clock.advance(days=31)
    seen = []

    def balances(conn, happened):
        if happened.program.id == program.id:
            seen.extend(repository.account_row(conn, m.account_id).available
                        for m in happened.moves)

    with heard(hooks.PointsExpired, balances) as got:
        jobs.expire_lots(database, clock.now())
    mine = [h for h in got if h.program.id == program.id]
    assert sorted((m.member_id, m.points, m.kind) for h in mine for m in h.moves) == sorted(
        [(ann, 100, "expire"), (ann, 40, "expire"), (bob, 5, "expire")])
    [ann_expiries] = [h for h in mine if ann in {m.member_id for m in h.moves}]
    assert [m.points for m in ann_expiries.moves if m.member_id == ann] == [100, 40]
    assert seen == [0] * len(seen) and len(seen) == 3
