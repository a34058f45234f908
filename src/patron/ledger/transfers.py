"""Moving points from one account to another, lots and all.

Used when a member's points go into a household pool or come out of it. Each
side gets its own entries (posted and pending apart), the giving side's lots are
closed and the receiving side gets copies that keep their expiry and
availability; ``lot_transfers`` links each lot to its copy, so a later return
of the purchase that earned it finds its points where they went.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.ledger import domain, repository
from patron.ledger.domain import Lot, Posting
from patron.ledger.service import EntryMeta, entry_row, lot_row, settle_debts
from patron.programs.service import Program


@dataclass(frozen=True)
class Moved:
    """What a transfer moved: available (may be negative: a debt) and pending points."""

    available: int = 0
    pending: int = 0
    lots: int = 0


@dataclass(frozen=True)
class TransferMeta:
    """Why points move: the words on each side's entries, and who moves them."""

    key: str
    reason_out: str
    reason_in: str
    actor: str
    member_id: int
    """The member the entries on both sides name."""
    details: dict[str, Any]


def _write(conn: Connection, program: Program, account: Any, part: Posting | None,
           meta: TransferMeta, side: str, now: datetime) -> int | None:
    if part is None:
        return None
    reason = meta.reason_out if side == "out" else meta.reason_in
    entry_meta = EntryMeta(now, f"{meta.key}:{side}:{part.status.value}", reason, meta.actor,
                           details=meta.details)
    [entry_id] = repository.insert_entries(conn, [entry_row(program.id, account, part,
                                                            entry_meta, now, meta.member_id)])
    repository.insert_moves(conn, [dict(entry_id=entry_id, lot_id=lot_id, points=delta)
                                   for lot_id, delta in part.moves])
    return entry_id


def transfer_lots(conn: Connection, program: Program, *, source: Any, target: Any,
                  lots: Sequence[Lot], meta: TransferMeta, now: datetime) -> Moved:
    """Move every live remainder of ``lots`` (source's lots) from ``source`` to ``target``.

    The caller holds both account locks and read ``lots`` under them.
    """
    plan = domain.transfer(lots)
    if not plan.copies:
        return Moved()
    by_id = {lot.id: lot for lot in lots}
    _write(conn, program, source, plan.out_posted, meta, "out", now)
    _write(conn, program, source, plan.out_pending, meta, "out", now)
    repository.update_lots(conn, [domain.closed_by_transfer(by_id[lot_id])
                                  for lot_id, _ in plan.copies])
    in_posted = _write(conn, program, target, plan.in_posted, meta, "in", now)
    in_pending = _write(conn, program, target, plan.in_pending, meta, "in", now)
    entries = [in_pending if copy.state == domain.LotState.PENDING else in_posted
               for _, copy in plan.copies]
    lot_ids = repository.insert_lots(conn, [lot_row(program.id, target.id, entry_id, copy)
                                            for (_, copy), entry_id in zip(plan.copies, entries)])
    repository.insert_lot_transfers(conn, [
        dict(from_lot_id=source_id, to_lot_id=lot_id, entry_id=entry_id)
        for (source_id, _), lot_id, entry_id in zip(plan.copies, lot_ids, entries)])
    repository.apply_deltas(conn, {source.id: (-plan.available, -plan.pending, 0),
                                   target.id: (plan.available, plan.pending, 0)})
    settle_debts(conn, program.id, [target], now)
    return Moved(plan.available, plan.pending, len(plan.copies))
