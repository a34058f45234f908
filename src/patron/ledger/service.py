"""Ledger use cases: earn, spend, adjust and the balance, on top of ``domain``.

The arithmetic lives in ``domain``; this module loads the lots, asks the domain
what to do, and writes it down. It never commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import IdempotencyKeyReused, InvalidInput, NotFound
from patron.ledger import domain, repository
from patron.ledger.domain import EntryKind, InsufficientPoints, Lot, Posting
from patron.ledger.schemas import (Balance, EntrySource, Expiring, LedgerEntry, LedgerPage,
                                   LotMove, Posted)
from patron.programs.service import Program


class AccountNotFound(NotFound):
    code = "member_not_found"
    title = "Member not found"


@dataclass(frozen=True)
class EntryMeta:
    """Why an entry exists: the part of a ledger line that is not arithmetic."""

    occurred_at: datetime
    key: str
    reason: str
    actor: str
    event_pk: int | None = None
    order_id: str | None = None
    available_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def account_of(conn: Connection, program: Program, member_id: int) -> Any:
    row = repository.accounts_by_member(conn, program.id, [member_id]).get(member_id)
    if row is None:
        raise AccountNotFound(f"member {member_id} does not exist in this program",
                              member_id=member_id)
    return row


def entry_row(program_id: int, account: Any, posting: Posting, meta: EntryMeta,
              now: datetime) -> dict[str, Any]:
    return dict(program_id=program_id, account_id=account.id, member_id=account.member_id,
                kind=posting.kind.value, points=posting.points, status=posting.status.value,
                occurred_at=meta.occurred_at, recorded_at=now, available_at=meta.available_at,
                event_id=meta.event_pk, idempotency_key=meta.key, order_id=meta.order_id,
                reason=meta.reason, actor=meta.actor, details=meta.details)


def write_posting(conn: Connection, program_id: int, account: Any, posting: Posting,
                  meta: EntryMeta, lots_by_id: dict[int, Lot], now: datetime) -> int:
    """Insert the entry and move its lots. The account row is the caller's job."""
    [entry_id] = repository.insert_entries(conn, [entry_row(program_id, account, posting,
                                                            meta, now)])
    repository.insert_moves(conn, [dict(entry_id=entry_id, lot_id=lot_id, points=delta)
                                   for lot_id, delta in posting.moves])
    repository.update_lots(conn, [domain.state_after(lots_by_id[lot_id], delta)
                                  for lot_id, delta in posting.moves])
    return entry_id


def _replay(conn: Connection, account: Any, key: str, request: dict[str, Any]) -> Any:
    existing = repository.entry_by_key(conn, account.id, key)
    if existing is not None and existing.details.get("request") != request:
        raise IdempotencyKeyReused(f"idempotency_key {key!r} was used for a different request",
                                   key=key)
    return existing


def spend_points(conn: Connection, program: Program, member_id: int, *, points: int,
                 reason: str, key: str, actor: str, now: datetime,
                 order_id: str | None = None, kind: EntryKind = EntryKind.SPEND) -> Posted:
    """Pay with points: a guarded debit first, so two spends can never both pass."""
    account = account_of(conn, program, member_id)
    request = {"kind": kind.value, "points": points, "order_id": order_id, "reason": reason}
    if (existing := _replay(conn, account, key, request)) is not None:
        return posted(conn, program, account, existing.id)
    if not repository.guarded_debit(conn, account.id, points):
        current = repository.account_row(conn, account.id)
        raise InsufficientPoints(
            f"{points} points requested but only {current.available} are available",
            available=current.available, requested=points)
    lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
    posting = domain.spend(lots.values(), points, kind)
    meta = EntryMeta(now, key, reason, actor, order_id=order_id,
                     details={"request": request})
    entry_id = write_posting(conn, program.id, account, posting, meta, lots, now)
    return posted(conn, program, account, entry_id)


def credit_points(conn: Connection, program: Program, member_id: int, *, points: int,
                  reason: str, key: str, actor: str, now: datetime) -> Posted:
    """A manual credit: a new lot, available at once, expiring like any other."""
    account = account_of(conn, program, member_id)
    request = {"kind": "adjust", "points": points, "reason": reason}
    if (existing := _replay(conn, account, key, request)) is not None:
        return posted(conn, program, account, existing.id)
    posting = domain.Posting(EntryKind.ADJUST, points, domain.EntryStatus.POSTED,
                             available_delta=points, lifetime_delta=points)
    meta = EntryMeta(now, key, reason, actor, details={"request": request})
    [entry_id] = repository.insert_entries(conn, [entry_row(program.id, account, posting,
                                                            meta, now)])
    lot = domain.new_lot(0, points, occurred_at=now, pending_days=None,
                         policy=program.settings.expiry_policy)
    repository.insert_lots(conn, [lot_row(program.id, account.id, entry_id, lot)])
    repository.apply_deltas(conn, {account.id: (points, 0, points)})
    if account.available < 0:
        settle_debts(conn, program.id, [account], now)
    return posted(conn, program, account, entry_id)


def adjust_points(conn: Connection, program: Program, member_id: int, *, points: int,
                  reason: str, key: str, actor: str, now: datetime) -> Posted:
    if points == 0:
        raise InvalidInput("an adjustment of 0 points changes nothing", field="points")
    if points > 0:
        return credit_points(conn, program, member_id, points=points, reason=reason, key=key,
                             actor=actor, now=now)
    return spend_points(conn, program, member_id, points=-points, reason=reason, key=key,
                        actor=actor, now=now, kind=EntryKind.ADJUST)


def lot_row(program_id: int, account_id: int, entry_id: int, lot: Lot) -> dict[str, Any]:
    return dict(program_id=program_id, account_id=account_id, entry_id=entry_id,
                points=lot.points, remaining=lot.remaining, state=lot.state.value,
                earned_at=lot.earned_at, available_at=lot.available_at,
                expires_at=lot.expires_at)


@dataclass(frozen=True)
class Earn:
    """One earn to write in bulk: used by event ingest.

    ``settings`` are those of the program version that awarded it (pending window,
    expiry); the program's current settings by default.
    """

    member_id: int
    points: int
    pending: bool
    meta: EntryMeta
    settings: Any = None
    lot: Lot | None = None
    """The lot to create, when the caller already worked it out."""


def earn_many(conn: Connection, program: Program, earns: Sequence[Earn],
              now: datetime) -> list[dict[str, Any]]:
    """Write many earns in a few statements: entries, lots, then account totals.

    Returns, per earn, its ``entry_id``, ``lot_id``, ``account_id`` and ``lot``.
    Accounts that owe points (a negative balance after a return) pay them off at
    once from what became available.
    """
    account_rows = repository.accounts_by_member(conn, program.id, {e.member_id for e in earns})
    entry_rows, new_lots = [], []
    deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item in earns:
        account = account_rows[item.member_id]
        lot = item.lot
        if lot is None:
            settings = item.settings or program.settings
            lot = domain.new_lot(0, item.points, occurred_at=item.meta.occurred_at,
                                 pending_days=settings.pending_days if item.pending else None,
                                 policy=settings.expiry_policy)
        posting = domain.earn(item.points, pending=lot.state == domain.LotState.PENDING)
        meta = item.meta
        if posting.status == domain.EntryStatus.PENDING:
            meta = EntryMeta(**{**meta.__dict__, "available_at": lot.available_at})
        entry_rows.append(entry_row(program.id, account, posting, meta, now))
        new_lots.append((account.id, lot))
        d = deltas[account.id]
        d[0] += posting.available_delta
        d[1] += posting.pending_delta
        d[2] += posting.lifetime_delta
    repository.apply_deltas(conn, {a: (d[0], d[1], d[2]) for a, d in deltas.items()})
    entry_ids = repository.insert_entries(conn, entry_rows)
    lot_ids = repository.insert_lots(conn, [lot_row(program.id, account_id, entry_id, lot)
                                            for (account_id, lot), entry_id
                                            in zip(new_lots, entry_ids)])
    in_debt = [a for a in account_rows.values() if a.available < 0 and deltas[a.id][0] > 0]
    if in_debt:
        settle_debts(conn, program.id, in_debt, now)
    return [dict(entry_id=entry_id, lot_id=lot_id, account_id=account_id, lot=lot)
            for (account_id, lot), entry_id, lot_id in zip(new_lots, entry_ids, lot_ids)]


def settle_debts(conn: Connection, program_id: int, accounts: Sequence[Any],
                 now: datetime) -> int:
    """Pay off what accounts owe with their open points; returns the points settled."""
    settled = 0
    for account in accounts:
        lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
        posting = domain.settle(lots.values())
        if posting is None:
            continue
        paid = sum(delta for lot_id, delta in posting.moves
                   if lots[lot_id].state == domain.LotState.DEBT)
        key = f"settle:{','.join(str(lot_id) for lot_id, _ in posting.moves)}:{now.isoformat()}"
        meta = EntryMeta(now, key[:200], f"{paid} points paid off the balance owed after a "
                         "return", "system:settle", details={"paid": paid})
        write_posting(conn, program_id, account, posting, meta, lots, now)
        settled += paid
    return settled


@dataclass(frozen=True)
class ClawedBack:
    """What one clawback did: entries written, points taken, owed and forgiven."""

    entry_ids: tuple[int, ...]
    taken_pending: int
    taken_available: int
    debt: int
    forgiven: int


def claw_back(conn: Connection, program: Program, member_id: int, *, points: int,
              own_lot_id: int | None, meta: EntryMeta, now: datetime) -> ClawedBack:
    """Take back earned points (a return): see ``domain.claw_back`` for the order.

    The caller holds the account lock (ingest locks its members' accounts).
    """
    account = account_of(conn, program, member_id)
    lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
    if own_lot_id is not None and own_lot_id not in lots:
        lots.update({lot.id: lot for lot in repository.lots_by_id(conn, [own_lot_id])})
    allow_negative = program.settings.negative_balance == "allow_negative"
    plan = domain.claw_back(lots, own_lot_id, points, allow_negative=allow_negative)
    entry_ids = []
    available = pending = lifetime = 0
    for part, suffix in ((plan.pending, "pending"), (plan.posted, "posted")):
        if part is None:
            continue
        details = {**meta.details, "forgiven": plan.forgiven, "debt": plan.debt}
        part_meta = EntryMeta(**{**meta.__dict__, "key": f"{meta.key}:{suffix}",
                                 "details": details})
        entry_id = write_posting(conn, program.id, account, part, part_meta, lots, now)
        entry_ids.append(entry_id)
        available += part.available_delta
        pending += part.pending_delta
        lifetime += part.lifetime_delta
        if part is plan.posted and plan.debt:
            debt_lot = domain.Lot(0, -plan.debt, -plan.debt, domain.LotState.DEBT, now, now, None)
            [lot_id] = repository.insert_lots(conn, [lot_row(program.id, account.id, entry_id,
                                                             debt_lot)])
            repository.insert_moves(conn, [dict(entry_id=entry_id, lot_id=lot_id,
                                                points=-plan.debt)])
    repository.apply_deltas(conn, {account.id: (available, pending, lifetime)})
    taken_available = -(plan.posted.available_delta if plan.posted else 0) - plan.debt
    return ClawedBack(tuple(entry_ids), -(plan.pending.points if plan.pending else 0),
                      taken_available, plan.debt, plan.forgiven)


def balance(conn: Connection, program: Program, member_id: int) -> Balance:
    account = account_of(conn, program, member_id)
    lots = repository.live_lots(conn, account.id)
    return Balance(member_id=member_id, available=account.available, pending=account.pending,
                   lifetime_earned=account.lifetime_earned,
                   expiring=[Expiring(points=p, expires_at=at)
                             for p, at in domain.expiring_summary(lots)])


def _entry_out(row: Any) -> LedgerEntry:
    if row.event_id is not None:
        source = EntrySource(type="event", id=row.event_external_id, event_type=row.event_type)
    elif row.actor.startswith("job:"):
        source = EntrySource(type="job", id=row.actor.removeprefix("job:"))
    else:
        source = EntrySource(type="request", id=row.idempotency_key)
    details = {k: v for k, v in (row.details or {}).items() if k != "request"}
    return LedgerEntry(id=row.id, kind=row.kind, points=row.points, status=row.status,
                       occurred_at=row.occurred_at, recorded_at=row.recorded_at,
                       available_at=row.available_at, order_id=row.order_id, reason=row.reason,
                       actor=row.actor, source=source, details=details)


def ledger_page(conn: Connection, program: Program, member_id: int, before: int | None,
                limit: int) -> LedgerPage:
    account = account_of(conn, program, member_id)
    rows = repository.page_entries(conn, account.id, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return LedgerPage(items=[_entry_out(r) for r in rows],
                      next_cursor=rows[-1].id if more and rows else None)


def posted(conn: Connection, program: Program, account: Any, entry_id: int) -> Posted:
    [row] = repository.page_entries(conn, account.id, entry_id + 1, 1)
    moves = repository.moves_of_entry(conn, entry_id)
    return Posted(entry=_entry_out(row), lots=[LotMove(lot_id=m.lot_id, points=m.points)
                                               for m in moves],
                  balance=balance(conn, program, account.member_id))
