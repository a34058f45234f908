"""Moving points from one account to another.

``transfer_lots`` moves whole lots, used when a member's points go into a
household pool or come out of it. Each side gets its own entries (posted and
pending apart), the giving side's lots are closed and the receiving side gets
copies that keep their expiry and availability; ``lot_transfers`` links each lot
to its copy, so a later return of the purchase that earned it finds its points
where they went: in the pool, the same points the earner still shares.
``transfer_live_lots`` writes the same rows for every live lot of an account (a
merge, an undo of one) in a few statements: ten thousand lots moved one
statement per lot, and through Python, took seconds.

``transfer_points`` gives some available points to another member. The points
belong to the receiver from then on, so nothing links the pieces to the lots
they came from: a later return of the giver's purchase takes its points back
from the giver (the earn's own lot first, then their other points, then a debt
where the program allows one), never from the receiver. It is announced as
points the giver spent and the receiver earned (``hooks.PointsSpent``,
``hooks.PointsEarned``); moving lots into or out of a pool is not: the points
stay the same member's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.ledger import domain, repository
from patron.ledger.domain import EntryKind, EntryStatus, Lot, LotState, Posting
from patron.ledger.service import (EntryMeta, entry_row, lot_row, moved, settle_debts,
                                   take_available, write_posting)
from patron.program.service import Program


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
    if target.available < 0 or any(copy.state == domain.LotState.DEBT
                                   for _, copy in plan.copies):
        settle_debts(conn, program.id, [target], now)  # only a debt has anything to settle
    return Moved(plan.available, plan.pending, len(plan.copies))


def _plan(lots: Sequence[tuple[int, LotState, int]]) -> domain.Transfer:
    """``domain.transfer`` for lots known only by ``(id, state, remaining)``: the same
    entries; the copies are the database's to make (``repository.hand_over_lots``)."""
    live = sorted(lot for lot in lots if lot[1] in domain.TRANSFERABLE and lot[2] != 0)
    groups = ([lot for lot in live if lot[1] != LotState.PENDING],
              [lot for lot in live if lot[1] == LotState.PENDING])
    pairs: list[tuple[Posting | None, Posting | None]] = []
    for group, status, field in ((groups[0], EntryStatus.POSTED, "available_delta"),
                                 (groups[1], EntryStatus.PENDING, "pending_delta")):
        total = sum(remaining for _, _, remaining in group)
        pairs.append((None, None) if not group else (
            Posting(EntryKind.TRANSFER, -total, status, **{field: -total},
                    moves=tuple((lot_id, -remaining) for lot_id, _, remaining in group)),
            Posting(EntryKind.TRANSFER, total, status, **{field: total})))
    return domain.Transfer(pairs[0][0], pairs[1][0], pairs[0][1], pairs[1][1])


def transfer_live_lots(conn: Connection, program: Program, *, source: Any, target: Any,
                       meta: TransferMeta, now: datetime,
                       from_entries: Sequence[int] | None = None) -> Moved:
    """``transfer_lots`` of every live lot of ``source`` (only those its entries
    ``from_entries`` created, when given), the same rows in bulk.

    The caller holds both account locks.
    """
    lots = repository.movable_lots(conn, source.id, from_entries)
    plan = _plan(lots)
    parts = [(source, plan.out_posted, "out"), (source, plan.out_pending, "out"),
             (target, plan.in_posted, "in"), (target, plan.in_pending, "in")]
    written = [(account, part, side) for account, part, side in parts if part is not None]
    if not written:
        return Moved()
    ids = repository.insert_entries(conn, [entry_row(
        program.id, account, part, EntryMeta(
            now, f"{meta.key}:{side}:{part.status.value}",
            meta.reason_out if side == "out" else meta.reason_in, meta.actor,
            details=meta.details), now, meta.member_id) for account, part, side in written])
    entry = {(side, part.status): entry_id
             for (_, part, side), entry_id in zip(written, ids)}
    old_ids = [lot_id for part in (plan.out_posted, plan.out_pending) if part is not None
               for lot_id, _ in part.moves]
    new_ids = repository.reserve_lot_ids(conn, len(old_ids))
    repository.hand_over_lots(
        conn, old_ids, new_ids, target.id,
        (entry.get(("out", EntryStatus.POSTED)), entry.get(("out", EntryStatus.PENDING))),
        (entry.get(("in", EntryStatus.POSTED)), entry.get(("in", EntryStatus.PENDING))))
    available = plan.in_posted.points if plan.in_posted else 0
    pending = plan.in_pending.points if plan.in_pending else 0
    repository.apply_deltas(conn, {source.id: (-available, -pending, 0),
                                   target.id: (available, pending, 0)})
    if target.available < 0 or any(lot[1] == LotState.DEBT for lot in lots):
        settle_debts(conn, program.id, [target], now)  # only a debt has anything to settle
    return Moved(available, pending, len(old_ids))


@dataclass(frozen=True)
class Party:
    """One side of a points transfer: the account, the member its entry names, its words."""

    account: Any
    """The account row, read under its lock."""
    member_id: int
    meta: EntryMeta


@dataclass(frozen=True)
class Given:
    """The two entries a points transfer wrote and the receiver's new lots."""

    out_entry_id: int
    in_entry_id: int
    lots: list[Lot]
    """The receiver's new lots, with their ids."""


def transfer_points(conn: Connection, program: Program, points: int, *, giver: Party,
                    receiver: Party, now: datetime) -> Given:
    """Give ``points`` of ``giver.account``'s available points to ``receiver.account``.

    The caller holds both account locks. The guarded debit comes first, so two
    transfers (or a transfer and a spend) can never both take the same points;
    the lots are read after it. A receiver that owes points pays the debt off
    from what arrived.
    """
    source, target = giver.account, receiver.account
    lots = take_available(conn, source.id, points)
    plan = domain.transfer_points(lots.values(), points)
    out_id = write_posting(conn, program.id, source, plan.out, giver.meta, lots, now,
                           giver.member_id)
    [in_id] = repository.insert_entries(conn, [entry_row(program.id, target, plan.into,
                                                         receiver.meta, now,
                                                         receiver.member_id)])
    lot_ids = repository.insert_lots(conn, [lot_row(program.id, target.id, in_id, piece)
                                            for _, piece in plan.pieces])
    repository.apply_deltas(conn, {target.id: (points, 0, 0)})
    if target.available < 0:
        settle_debts(conn, program.id, [target], now)
    _announce(conn, program, points, giver, receiver, out_id, in_id)
    return Given(out_id, in_id, [replace(piece, id=lot_id)
                                 for (_, piece), lot_id in zip(plan.pieces, lot_ids)])


def _announce(conn: Connection, program: Program, points: int, giver: Party, receiver: Party,
              out_id: int, in_id: int) -> None:
    """The giver spent the points, the receiver earned them."""
    hooks.emit(conn, hooks.PointsSpent(program, (moved(
        giver.member_id, points, giver.meta, giver.account.id, EntryKind.TRANSFER, out_id),)))
    hooks.emit(conn, hooks.PointsEarned(program, (moved(
        receiver.member_id, points, receiver.meta, receiver.account.id, EntryKind.TRANSFER,
        in_id),)))
