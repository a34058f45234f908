"""The bulk lot move a merge uses writes the same ledger as moving the lots one by one."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from patron.ledger import repository as ledger_repository
from patron.ledger.service import EntryMeta, adjust_points, claw_back
from patron.ledger.tables import ledger_entries, lot_moves, lot_transfers, lots
from patron.ledger.transfers import TransferMeta, transfer_live_lots, transfer_lots
from tests.flows.test_ingest import BASE, Shop


def _adjust(shop, member_id, points, key):
    shop.db.transact(lambda conn: adjust_points(
        conn, shop.program, member_id, points=points, reason="test", key=key, actor="test",
        now=shop.clock.now()))


def _take(shop, member_id, points, key):
    shop.db.transact(lambda conn: claw_back(
        conn, shop.program, member_id, points=points, own_lot_id=None,
        meta=EntryMeta(shop.clock.now(), key, "test", "test"), now=shop.clock.now(),
        explain=lambda *_: "taken"))


def _history(shop, member_id):
    """Open lots with their own expiries (one partly used, one used up), pending lots."""
    _adjust(shop, member_id, 100, f"a-{member_id}")
    shop.clock.set(shop.clock.now() + timedelta(days=5))
    _adjust(shop, member_id, 30, f"b-{member_id}")
    shop.send(shop.purchase(member_id, [("BNS", "beans", 1, 20_00)]))  # pending 14 days
    shop.clock.set(shop.clock.now() + timedelta(days=1))
    _adjust(shop, member_id, 12, f"c-{member_id}")
    shop.send(shop.purchase(member_id, [("LAT", "drinks", 1, 7_00)]))
    _take(shop, member_id, 27, f"t-{member_id}")
    _take(shop, member_id, 110, f"u-{member_id}")  # 100 of the first lot, 10 of the next


def _history_with_a_debt(shop, member_id):
    """A debt (points taken back after they were used) beside a pending lot."""
    _adjust(shop, member_id, 40, f"a-{member_id}")
    _take(shop, member_id, 55, f"t-{member_id}")  # 40 open, 15 owed
    shop.clock.set(shop.clock.now() + timedelta(days=2))
    shop.send(shop.purchase(member_id, [("BNS", "beans", 1, 9_00)]))  # pending: settles nothing


def _move(shop, source_member, target_member, bulk):
    def work(conn):
        accounts = ledger_repository.accounts_by_member(
            conn, shop.program.id, [source_member, target_member])
        source, target = accounts[source_member], accounts[target_member]
        meta = TransferMeta("move", "out", "in", "test", target_member, {"why": "test"})
        if bulk:
            return transfer_live_lots(conn, shop.program, source=source, target=target,
                                      meta=meta, now=shop.clock.now())
        return transfer_lots(conn, shop.program, source=source, target=target,
                             lots=ledger_repository.live_lots(conn, source.id), meta=meta,
                             now=shop.clock.now())
    return shop.db.transact(work)


def _ledger(shop, member_ids):
    """Both accounts' entries, lots, moves and links, with ids made relative."""
    def read(conn):
        accounts = ledger_repository.accounts_by_member(conn, shop.program.id, member_ids)
        ids = [accounts[m].id for m in member_ids]
        entries = list(conn.execute(select(ledger_entries).where(
            ledger_entries.c.account_id.in_(ids)).order_by(ledger_entries.c.id)))
        lot_rows = list(conn.execute(select(lots).where(lots.c.account_id.in_(ids))
                                     .order_by(lots.c.id)))
        entry_no = {e.id: n for n, e in enumerate(entries)}
        lot_no = {row.id: n for n, row in enumerate(lot_rows)}
        moves = conn.execute(select(lot_moves).where(lot_moves.c.lot_id.in_(list(lot_no)))
                             .order_by(lot_moves.c.id))
        links = conn.execute(select(lot_transfers).where(
            lot_transfers.c.from_lot_id.in_(list(lot_no))).order_by(lot_transfers.c.id))
        side = {a: n for n, a in enumerate(ids)}
        return dict(
            balances=[(accounts[m].available, accounts[m].pending, accounts[m].lifetime_earned)
                      for m in member_ids],
            entries=[(side[e.account_id], e.kind, e.points, e.status, e.reason,
                      re.sub(r"\d+", "#", e.idempotency_key), e.details)
                     for e in entries],
            lots=[(side[r.account_id], entry_no[r.entry_id], r.points, r.remaining, r.state,
                   r.earned_at, r.available_at, r.expires_at) for r in lot_rows],
            moves=[(entry_no[m.entry_id], lot_no[m.lot_id], m.points) for m in moves],
            links=[(lot_no[t.from_lot_id], lot_no[t.to_lot_id], entry_no[t.entry_id])
                   for t in links],
            totals=[ledger_repository.ledger_totals(conn, a) for a in ids])
    return shop.db.read(read)


@pytest.mark.parametrize("history, moved_points, states", [
    (_history, (5, 27), {"open", "pending", "closed"}),
    (_history_with_a_debt, (-15, 9), {"debt", "pending", "closed"}),
])
def test_the_bulk_move_writes_what_moving_lot_by_lot_writes(database, clock, history,
                                                            moved_points, states):
    start = clock.now()
    results = []
    for bulk in (False, True):
        clock.set(start)
        shop = Shop(database, clock, [BASE], pending_days=14, expiry={"days": 365},
                    negative_balance="allow_negative")
        source, target = shop.member(), shop.member()
        history(shop, source)
        _adjust(shop, target, 5, f"own-{target}")
        moved = _move(shop, source, target, bulk)
        results.append((moved, _ledger(shop, [source, target])))
    (slow_moved, slow), (bulk_moved, bulk) = results
    assert (bulk_moved.available, bulk_moved.pending) == moved_points
    assert bulk_moved == slow_moved
    assert states <= {lot[4] for lot in slow["lots"]}
    assert bulk == slow
