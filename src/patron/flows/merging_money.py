"""The points and the wallet money a merge moves, and how an undo gives them back.

**Points.** The merged member's live lots (open, pending, debt) move to the
account the survivor's points are in with ``ledger.transfers.transfer_live_lots``:
new entries on both sides (kind ``transfer``, reasons "merged from member 42
(merge 7)"), the merged lots closed and copies made on the survivor's side with
the same remaining points, state, availability and expiry. ``lot_transfers``
links each lot to its copy, so a later return of an order the merged member
bought finds its points on the survivor (pending first), and pending points stay
pending until their own date.

**Undo.** The copies still live go back the same way (same expiry, same state:
a pending copy released meanwhile comes back open, as it would have been).
Points the survivor *spent* out of the copies after the merge stay spent by the
survivor, so the survivor pays them back from its own points (soonest-expiring
first), and the returning member gets them as new lots with the expiry of the
copies they were spent from. When the survivor cannot cover it all, the
shortfall stays taken from the returning member and is recorded on the merge
(``moved.undo.points_shortfall``). Points that expired or were clawed back by a
return meanwhile are gone for the member they belonged to either way.

**Wallet.** The posted balance moves with a ``merge`` entry on each side; pending
cashback holds are handed to the survivor's wallet account (and pending entries
record it), so the release sweep credits the survivor. The undo moves the
balance back, plus holds that were released meanwhile, and hands back holds
still pending; the survivor's balance is never taken below zero (a shortfall is
recorded, ``moved.undo.wallet_shortfall``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, bindparam, exists, or_

from patron.ledger import domain, repository
from patron.ledger.domain import EntryKind, EntryStatus, Lot, LotState
from patron.ledger.holdings import Holding
from patron.ledger.service import EntryMeta, entry_row, lot_row, take_available, write_posting
from patron.ledger.tables import accounts as points_accounts
from patron.ledger.tables import lots as lots_table
from patron.ledger.transfers import TransferMeta, transfer_live_lots
from patron.program.service import Program
from patron.wallet import repository as wallet_repository
from patron.wallet.tables import wallet_accounts, wallet_holds

SPENT = (EntryKind.SPEND.value, EntryKind.ADJUST.value, EntryKind.TRANSFER.value,
         EntryKind.SETTLE.value)
"""Entry kinds that count as the survivor using points (expiry and returns do not)."""


HELD: dict[str, ColumnElement[bool]] = {
    "points": exists().where(points_accounts.c.program_id == bindparam("program"),
                             points_accounts.c.member_id == bindparam("merged"),
                             lots_table.c.account_id == points_accounts.c.id,
                             lots_table.c.remaining != 0,
                             or_(*(lots_table.c.state == state.value for state in (
                                 LotState.OPEN, LotState.PENDING, LotState.DEBT)))),
    "wallet": or_(
        exists().where(wallet_accounts.c.program_id == bindparam("program"),
                       wallet_accounts.c.member_id == bindparam("merged"),
                       wallet_accounts.c.balance != 0),
        exists().where(wallet_accounts.c.program_id == bindparam("program"),
                       wallet_accounts.c.member_id == bindparam("merged"),
                       wallet_holds.c.account_id == wallet_accounts.c.id,
                       wallet_holds.c.state == wallet_repository.PENDING,
                       wallet_holds.c.remaining > 0)),
}
"""Whether the merged member (``merged`` in ``program``) has what ``move_points`` and
``move_wallet`` move: live lots in its own account (those ``repository.movable_lots``
finds), a wallet balance or pending cashback holds."""

def no_wallet() -> dict[str, Any]:
    """``move_wallet``'s record when the merged member has no wallet money."""
    return {"balance": 0, "holds": {}}


def no_points(survivor: Holding) -> dict[str, Any]:
    """``move_points``'s record when the merged member has no live lots."""
    return {"account_id": survivor.account.id, "entries": [], "available": 0, "pending": 0,
            "lots": 0}


def _keys(key: str) -> list[str]:
    return [f"{key}:in:posted", f"{key}:in:pending"]


def move_points(conn: Connection, program: Program, merge_id: int, *, survivor: Holding,
                merged: Holding, actor: str, now: datetime) -> dict[str, Any]:
    """Move the merged member's live lots to the survivor's account (both locked)."""
    key = f"merge:{merge_id}"
    meta = TransferMeta(key, f"moved to member {survivor.member_id} by merge {merge_id}",
                        f"merged from member {merged.member_id} (merge {merge_id})", actor,
                        survivor.member_id, {"merge_id": merge_id,
                                             "merged_from": merged.member_id})
    done = transfer_live_lots(conn, program, source=merged.own, target=survivor.account,
                              meta=meta, now=now)
    entries = repository.entry_ids_by_keys(conn, survivor.account.id, _keys(key))
    return {"account_id": survivor.account.id, "entries": entries,
            "available": done.available, "pending": done.pending, "lots": done.lots}


def pay_back_pieces(spent: Sequence[tuple[Lot, int]], covered: int) -> list[Lot]:
    """The lots the returning member gets for ``covered`` of the points spent from its
    copies: one per copy, soonest-expiring first (those would have been spent first),
    each with its copy's expiry and availability."""
    pieces = []
    order = sorted(spent, key=lambda item: (item[0].expires_at is None,
                                            item[0].expires_at or item[0].earned_at,
                                            item[0].id))
    for lot, taken in order:
        if covered <= 0:
            break
        points = min(taken, covered)
        covered -= points
        pieces.append(replace(lot, id=0, points=points, remaining=points,
                              state=LotState.OPEN))
    return pieces


def give_back_points(conn: Connection, program: Program, merge: Any, *, survivor: Holding,
                     returning: Holding, actor: str, now: datetime) -> dict[str, Any]:
    """Undo ``move_points``: see the module for the rule on points spent since."""
    record = merge.moved.get("points") or {}
    merge_entries = record.get("entries") or []
    source = repository.account_row(conn, record.get("account_id", survivor.account.id))
    spent = repository.taken_from_copies(conn, source.id, merge_entries, SPENT,
                                         max(merge_entries, default=0))
    key = f"unmerge:{merge.id}"
    meta = TransferMeta(key, f"returned to member {returning.member_id}: merge {merge.id} "
                        "undone", f"back from member {survivor.member_id}: merge {merge.id} "
                        "undone", actor, returning.member_id, {"merge_id": merge.id})
    done = transfer_live_lots(conn, program, source=source, target=returning.own, meta=meta,
                              now=now, from_entries=merge_entries)
    owed = sum(spent.values())
    covered = 0
    if owed:
        account = repository.account_row(conn, source.id)
        covered = max(0, min(owed, account.available))
        if covered:
            copy_lots = repository.lots_among(conn, spent)
            _pay_back(conn, program, merge.id, source, returning,
                      pay_back_pieces([(copy_lots[i], n) for i, n in spent.items()], covered),
                      actor, now)
    return {"available": done.available, "pending": done.pending, "lots": done.lots,
            "spent_since": owed, "paid_back": covered, "points_shortfall": owed - covered}


def give_back_earned(conn: Connection, program: Program, merge: Any, event_ids: Sequence[int],
                     *, survivor: Holding, returning: Holding, actor: str,
                     now: datetime) -> dict[str, Any]:
    """What events since the merge earned on the survivor's account and is still there
    goes to the member they came through (``merging`` decides which events), as new
    ``transfer`` entries; what was spent or clawed back meanwhile stays so."""
    source = survivor.account
    earned = repository.entry_ids_of_events(conn, source.id, event_ids)
    key = f"unmerge:{merge.id}:after"
    meta = TransferMeta(key, f"earned through member {returning.member_id}'s identities after "
                        f"merge {merge.id}, returned on its undo",
                        f"earned through your identities after merge {merge.id}, back on its "
                        "undo", actor, returning.member_id,
                        {"merge_id": merge.id, "event_ids": list(event_ids)})
    done = transfer_live_lots(conn, program, source=repository.account_row(conn, source.id),
                              target=repository.account_row(conn, returning.own.id),
                              meta=meta, now=now, from_entries=earned)
    return {"events": list(event_ids), "available": done.available, "pending": done.pending,
            "lots": done.lots}


def _pay_back(conn: Connection, program: Program, merge_id: int, source: Any,
              returning: Holding, pieces: list[Lot], actor: str, now: datetime) -> None:
    """The survivor pays for the points it spent from the returning member's lots."""
    points = sum(piece.points for piece in pieces)
    details = {"merge_id": merge_id}
    lots = take_available(conn, source.id, points)
    posting = domain.spend(lots.values(), points, EntryKind.TRANSFER)
    write_posting(conn, program.id, source, posting, EntryMeta(
        now, f"unmerge:{merge_id}:pay_back:out",
        f"points spent from member {returning.member_id}'s lots after merge {merge_id}, "
        "paid back on its undo", actor, details=details), lots, now)
    into = domain.Posting(EntryKind.TRANSFER, points, EntryStatus.POSTED,
                          available_delta=points)
    [entry_id] = repository.insert_entries(conn, [entry_row(
        program.id, returning.own, into, EntryMeta(
            now, f"unmerge:{merge_id}:pay_back:in",
            f"points the other member spent after merge {merge_id}, paid back on its undo",
            actor, details=details), now, returning.member_id)])
    repository.insert_lots(conn, [lot_row(program.id, returning.own.id, entry_id, piece)
                                  for piece in pieces])
    repository.apply_deltas(conn, {returning.own.id: (points, 0, 0)})


def _wallet_entry(program: Program, account: Any, member_id: int, amount: int, status: str,
                  key: str, reason: str, actor: str, now: datetime,
                  merge_id: int) -> dict[str, Any]:
    return dict(program_id=program.id, account_id=account.id, member_id=member_id,
                kind="merge", amount=amount, occurred_at=now, recorded_at=now, event_id=None,
                order_id=None, idempotency_key=key, reason=reason, actor=actor,
                details={"merge_id": merge_id}, status=status, available_at=None)


def _shift(conn: Connection, program: Program, *, source: Any, target: Any, member_ids:
           tuple[int, int], balance: int, pending: int, key: str, words: tuple[str, str],
           actor: str, now: datetime, merge_id: int) -> None:
    rows = []
    for amount, status in ((balance, "posted"), (pending, "pending")):
        if amount:
            rows.append(_wallet_entry(program, source, member_ids[0], -amount, status,
                                      f"{key}:out:{status}", words[0], actor, now, merge_id))
            rows.append(_wallet_entry(program, target, member_ids[1], amount, status,
                                      f"{key}:in:{status}", words[1], actor, now, merge_id))
    wallet_repository.insert_entries(conn, rows)
    wallet_repository.move_balances(conn, source.id, balance=-balance, pending=-pending)
    wallet_repository.move_balances(conn, target.id, balance=balance, pending=pending)


def move_wallet(conn: Connection, program: Program, merge_id: int, survivor_id: int,
                merged_id: int, *, actor: str, now: datetime) -> dict[str, Any]:
    accounts = wallet_repository.accounts_of(conn, program.id, program.settings.currency,
                                             sorted((survivor_id, merged_id)), now)
    source, target = accounts[merged_id], accounts[survivor_id]
    holds = wallet_repository.pending_holds_of(conn, source.id)
    pending = sum(h.remaining for h in holds)
    _shift(conn, program, source=source, target=target, member_ids=(merged_id, survivor_id),
           balance=source.balance, pending=pending, key=f"merge:{merge_id}",
           words=(f"moved to member {survivor_id} by merge {merge_id}",
                  f"merged from member {merged_id} (merge {merge_id})"),
           actor=actor, now=now, merge_id=merge_id)
    wallet_repository.repoint_holds(conn, [h.id for h in holds], target.id)
    return {"balance": source.balance, "holds": {str(h.id): h.remaining for h in holds}}


def give_back_wallet(conn: Connection, program: Program, merge: Any, *, actor: str,
                     now: datetime) -> dict[str, Any]:
    record = merge.moved.get("wallet") or no_wallet()
    if not record["balance"] and not record["holds"]:
        return {"balance": 0, "wallet_shortfall": 0}  # nothing moved: nothing to give back
    accounts = wallet_repository.accounts_of(conn, program.id, program.settings.currency,
                                             sorted((merge.survivor_id, merge.merged_id)), now)
    source, target = accounts[merge.survivor_id], accounts[merge.merged_id]
    holds = wallet_repository.holds_by_id(conn, [int(h) for h in record["holds"]])
    still = [h for h in holds if h.state == wallet_repository.PENDING
             and h.account_id == source.id]
    released = sum(record["holds"][str(h.id)] for h in holds
                   if h.state == wallet_repository.RELEASED)
    owed = record["balance"] + released
    balance = max(0, min(owed, source.balance))
    _shift(conn, program, source=source, target=target,
           member_ids=(merge.survivor_id, merge.merged_id), balance=balance,
           pending=sum(h.remaining for h in still), key=f"unmerge:{merge.id}",
           words=(f"returned to member {merge.merged_id}: merge {merge.id} undone",
                  f"back from member {merge.survivor_id}: merge {merge.id} undone"),
           actor=actor, now=now, merge_id=merge.id)
    wallet_repository.repoint_holds(conn, [h.id for h in still], target.id)
    return {"balance": balance, "wallet_shortfall": owed - balance}
