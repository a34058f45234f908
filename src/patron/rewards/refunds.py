"""Giving a cancelled redemption's points back, through the ledger's public pieces.

The spend's lot moves say which lots paid. The refund is one new ``reverse``
entry (the spend entry is never edited) whose moves put the points back into
those lots, or into the copy a household transfer made of one, so they keep
their earn date and expiry; what cannot go back (the lot expired meanwhile, or
left the account) goes into new lots (see ``domain.plan_refund``). The account's
available balance rises by exactly the refund, so it stays the sum of its posted
entries and of its open lots.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.ledger import repository as ledger
from patron.ledger.domain import EntryKind, EntryStatus, Lot, LotState, Posting
from patron.ledger.service import EntryMeta, Holding, lot_row, settle_debts, write_posting
from patron.program.service import Program
from patron.rewards.domain import plan_refund


def _lot(row: Any) -> Lot:
    return Lot(row.id, row.points, row.remaining, LotState(row.state), row.earned_at,
               row.available_at, row.expires_at)


def refund(conn: Connection, program: Program, holding: Holding, redemption: Any, *,
           reason: str, actor: str, now: datetime) -> int:
    """Write the refund of ``redemption`` into the member's points; returns its entry id.

    The points go to where the member's points are now (``holding.account``: the
    household pool while pooled). The caller holds the member's own account lock;
    the refunded account is locked here before its lots are read.
    """
    account = ledger.account_row(conn, holding.account.id, lock=True)
    taken = [(m.lot_id, -m.points) for m in ledger.moves_of_entry(conn, redemption.entry_id)
             if m.points < 0]
    original = {lot.id: lot for lot in ledger.lots_by_id(conn, [i for i, _ in taken])}
    home: dict[int, Lot] = {}
    for lot_id, _ in taken:
        now_row = ledger.lot_now(conn, lot_id)
        if now_row is not None and now_row.account_id == account.id:
            home[lot_id] = _lot(now_row)
    plan = plan_refund(taken, home, original, now, program.settings.expiry_policy)
    posting = Posting(EntryKind.REVERSE, plan.points, EntryStatus.POSTED,
                      available_delta=plan.points, moves=plan.restore)
    meta = EntryMeta(now, f"redemption:{redemption.id}:refund",
                     f"Points back: {redemption.reward_name} cancelled ({reason})", actor,
                     details={"redemption_id": redemption.id, "reward_id": redemption.reward_id,
                              "new_lots": len(plan.new_lots)})
    entry_id = write_posting(conn, program.id, account, posting, meta,
                             {lot.id: lot for lot in home.values()}, now, redemption.member_id)
    if plan.new_lots:
        lot_ids = ledger.insert_lots(conn, [lot_row(program.id, account.id, entry_id, lot)
                                            for lot in plan.new_lots])
        ledger.insert_moves(conn, [dict(entry_id=entry_id, lot_id=lot_id, points=lot.points)
                                   for lot_id, lot in zip(lot_ids, plan.new_lots)])
    ledger.apply_deltas(conn, {account.id: (plan.points, 0, 0)})
    if account.available < 0:
        settle_debts(conn, program.id, [account], now)
    return entry_id
