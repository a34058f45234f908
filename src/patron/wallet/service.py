"""Wallet use cases: cashback credits, spends at checkout, clawbacks on returns.

Amounts are integer minor units of the program currency. Cashback is credited
when the purchase is recorded; cashback a rule gives pending (a purchase, when
the program has a return window) is held as ``pending`` until the release sweep
(``patron.wallet.jobs``), so it cannot be spent before the order can no longer
be returned. A return takes it back (see ``patron.wallet.domain``): what is
still held first, then from what is left in the wallet, or into a negative
balance when the program's ``negative_balance`` is ``allow_negative``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, insert, select

from patron.db.engine import insert_rows_returning_ids, one_of
from patron.errors import Conflict, IdempotencyKeyReused, InvalidInput
from patron.members.service import require_member
from patron.program.service import Program
from patron.wallet import repository
from patron.wallet.domain import CashbackClawback, plan_clawback
from patron.wallet.tables import wallet_accounts, wallet_entries


class InsufficientFunds(Conflict):
    code = "insufficient_funds"
    title = "Not enough money in the wallet"


@dataclass(frozen=True)
class WalletMove:
    member_id: int
    amount: int
    kind: str
    key: str
    reason: str
    occurred_at: datetime
    actor: str
    event_pk: int | None = None
    order_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    available_at: datetime | None = None
    """Cashback held until then (the return window); spendable at once when None."""


def _accounts(conn: Connection, program: Program, member_ids: Sequence[int], now: datetime,
              *, lock: bool = False) -> dict[int, Any]:
    ids = sorted(set(member_ids))
    query = select(wallet_accounts).where(wallet_accounts.c.program_id == program.id,
                                          one_of(conn, wallet_accounts.c.member_id, ids))
    found = {row.member_id: row for row in conn.execute(query)}
    missing = [m for m in ids if m not in found]
    if missing:
        conn.execute(insert(wallet_accounts), [
            dict(program_id=program.id, member_id=m, currency=program.settings.currency,
                 balance=0, created_at=now) for m in missing])
    if missing or lock:
        query = query.order_by(wallet_accounts.c.id)
        if lock and conn.dialect.name == "postgresql":
            query = query.with_for_update()
        found = {row.member_id: row for row in conn.execute(query)}
    return found


def _entry(program: Program, account: Any, move: WalletMove, now: datetime,
           status: str | None = None) -> dict[str, Any]:
    return dict(program_id=program.id, account_id=account.id, member_id=move.member_id,
                kind=move.kind, amount=move.amount, occurred_at=move.occurred_at,
                recorded_at=now, event_id=move.event_pk, order_id=move.order_id,
                idempotency_key=move.key, reason=move.reason, actor=move.actor,
                details=move.details,
                status=status or ("pending" if move.available_at else "posted"),
                available_at=move.available_at)


def credit_many(conn: Connection, program: Program, moves: Sequence[WalletMove],
                now: datetime) -> list[int]:
    """Cashback (positive amounts) in bulk; returns the entry ids. A move with an
    ``available_at`` is held as pending until then, with a hold the release sweep and
    returns take from."""
    if not moves:
        return []
    accounts = _accounts(conn, program, [m.member_id for m in moves], now)
    ids = insert_rows_returning_ids(conn, wallet_entries, [
        _entry(program, accounts[m.member_id], m, now) for m in moves])
    repository.insert_holds(conn, [
        dict(program_id=program.id, account_id=accounts[m.member_id].id, entry_id=entry_id,
             remaining=m.amount, available_at=m.available_at, state=repository.PENDING)
        for m, entry_id in zip(moves, ids) if m.available_at is not None])
    totals: dict[int, list[int]] = {}
    for move in moves:
        account = accounts[move.member_id]
        moved = totals.setdefault(account.id, [0, 0])
        moved[1 if move.available_at else 0] += move.amount
    for account_id, (posted, pending) in sorted(totals.items()):
        repository.move_balances(conn, account_id, balance=posted, pending=pending)
    return ids


def claw_back(conn: Connection, program: Program, move: WalletMove, now: datetime, *,
              credit_entry_id: int | None,
              explain: Callable[[int, int, int], str]) -> CashbackClawback:
    """Take back cashback (``move.amount`` > 0) that the credit ``credit_entry_id`` gave.

    The account is locked before the credit's hold is read, so a release sweep at
    the same moment either released it first (and the money comes from the
    balance) or waits. Each entry's reason is ``explain(taken, forgiven, owed)``
    for what that entry moved: a pending part and a posted part.
    """
    account = _accounts(conn, program, [move.member_id], now, lock=True)[move.member_id]
    hold = repository.hold_of_entry(conn, credit_entry_id) if credit_entry_id else None
    held = hold.remaining if hold is not None and hold.state == repository.PENDING else 0
    plan = plan_clawback(move.amount, held=held, balance=account.balance,
                         allow_negative=program.settings.negative_balance == "allow_negative")
    details = {**move.details, "forgiven": plan.forgiven, "owed": plan.owed}
    from_balance = plan.from_balance + plan.owed
    posted = from_balance > 0 or not plan.from_held
    if plan.from_held:
        if not repository.take_from_hold(conn, hold.id, plan.from_held):
            raise InsufficientFunds("the held cashback changed under the lock")
        _write_reverse(conn, program, account, move, now, -plan.from_held, "pending",
                       explain(plan.from_held, 0 if posted else plan.forgiven, 0), details)
        repository.move_balances(conn, account.id, pending=-plan.from_held)
    if posted:
        if plan.from_balance and not plan.owed:
            if not repository.guarded_debit(conn, account.id, plan.from_balance):
                raise InsufficientFunds("the wallet changed under the lock")
        else:
            repository.move_balances(conn, account.id, balance=-from_balance)
        _write_reverse(conn, program, account, move, now, -from_balance, "posted",
                       explain(from_balance, plan.forgiven, plan.owed), details)
    return plan


def _write_reverse(conn: Connection, program: Program, account: Any, move: WalletMove,
                   now: datetime, amount: int, status: str, reason: str,
                   details: dict[str, Any]) -> None:
    entry = WalletMove(**{**move.__dict__, "amount": amount, "kind": "reverse",
                          "key": f"{move.key}:{status}", "reason": reason,
                          "details": details, "available_at": None})
    conn.execute(insert(wallet_entries).values(**_entry(program, account, entry, now, status)))


def take_back(conn: Connection, program: Program, move: WalletMove, now: datetime) -> int:
    """Take ``move.amount`` (> 0) back out of the wallet, all of it or none; returns the
    entry id. 409 ``insufficient_funds`` when the wallet holds less.

    Unlike ``claw_back`` for returns, it never forgives nor goes negative: a
    cancelled cashback redemption gives the points back, so the member must not
    keep the money too, and the program must not be left with a debt. The account
    row is locked and the debit guarded in one statement, so a wallet spend at the
    same moment either commits first (and this refuses) or waits for this one.
    """
    if move.amount <= 0:
        raise InvalidInput("a take-back is a positive amount", field="amount")
    account = _accounts(conn, program, [move.member_id], now, lock=True)[move.member_id]
    if not repository.guarded_debit(conn, account.id, move.amount):
        current = conn.execute(select(wallet_accounts.c.balance).where(
            wallet_accounts.c.id == account.id)).scalar_one()
        raise InsufficientFunds(f"{move.amount} to take back but the wallet holds {current}",
                                available=current, requested=move.amount)
    entry = WalletMove(**{**move.__dict__, "amount": -move.amount, "kind": "reverse"})
    [entry_id] = insert_rows_returning_ids(conn, wallet_entries,
                                           [_entry(program, account, entry, now)])
    return entry_id


def spend(conn: Connection, program: Program, member_id: int, *, amount: int,
          order_id: str | None, key: str, actor: str, now: datetime) -> dict[str, Any]:
    """Pay with the wallet at checkout: a guarded debit, idempotent by ``key``."""
    if amount <= 0:
        raise InvalidInput("a spend is a positive amount", field="amount")
    require_member(conn, program, member_id)
    account = _accounts(conn, program, [member_id], now)[member_id]
    request = {"amount": amount, "order_id": order_id}
    existing = conn.execute(select(wallet_entries).where(
        wallet_entries.c.account_id == account.id,
        wallet_entries.c.idempotency_key == key)).first()
    if existing is not None:
        if existing.details.get("request") != request:
            raise IdempotencyKeyReused(f"idempotency_key {key!r} was used for a different "
                                       "request", key=key)
        return wallet(conn, program, member_id, limit=1, entry_id=existing.id)
    if not repository.guarded_debit(conn, account.id, amount):
        current = conn.execute(select(wallet_accounts.c.balance).where(
            wallet_accounts.c.id == account.id)).scalar_one()
        raise InsufficientFunds(f"{amount} requested but the wallet holds {current}",
                                available=current, requested=amount)
    move = WalletMove(member_id, -amount, "spend", key, f"paid at checkout"
                      + (f" for order {order_id}" if order_id else ""), now, actor,
                      order_id=order_id, details={"request": request})
    [entry_id] = insert_rows_returning_ids(conn, wallet_entries,
                                           [_entry(program, account, move, now)])
    return wallet(conn, program, member_id, limit=1, entry_id=entry_id)


def wallet(conn: Connection, program: Program, member_id: int, *, limit: int = 50,
           before: int | None = None, entry_id: int | None = None) -> dict[str, Any]:
    require_member(conn, program, member_id)
    account = conn.execute(select(wallet_accounts).where(
        wallet_accounts.c.program_id == program.id,
        wallet_accounts.c.member_id == member_id)).first()
    if account is None:
        return dict(member_id=member_id, currency=program.settings.currency, balance=0,
                    pending=0, entries=[], next_cursor=None)
    query = select(wallet_entries).where(wallet_entries.c.account_id == account.id)
    if entry_id is not None:
        query = query.where(wallet_entries.c.id == entry_id)
    if before is not None:
        query = query.where(wallet_entries.c.id < before)
    rows = list(conn.execute(query.order_by(wallet_entries.c.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return dict(member_id=member_id, currency=account.currency, balance=account.balance,
                pending=account.pending,
                entries=[dict(id=r.id, kind=r.kind, amount=r.amount, status=r.status,
                              occurred_at=r.occurred_at, available_at=r.available_at,
                              order_id=r.order_id, reason=r.reason,
                              details={k: v for k, v in r.details.items() if k != "request"})
                         for r in rows],
                next_cursor=rows[-1].id if more and rows else None)


def totals(conn: Connection, account_id: int) -> int:
    """The balance recomputed from the posted entries, for audits and tests."""
    return int(conn.execute(select(func.coalesce(func.sum(wallet_entries.c.amount), 0))
                            .where(wallet_entries.c.account_id == account_id,
                                   wallet_entries.c.status == "posted")).scalar_one())


def pending_total(conn: Connection, account_id: int) -> int:
    """The pending balance recomputed: pending entries less releases, for audits and tests."""
    amount = wallet_entries.c.amount
    signed = case((wallet_entries.c.kind == "release", -amount), else_=amount)
    return int(conn.execute(select(func.coalesce(func.sum(signed), 0)).where(
        wallet_entries.c.account_id == account_id,
        (wallet_entries.c.status == "pending") | (wallet_entries.c.kind == "release"))
    ).scalar_one())
