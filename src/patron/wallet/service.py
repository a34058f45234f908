"""Wallet use cases: cashback credits, spends at checkout, clawbacks on returns.

Amounts are integer minor units of the program currency. Cashback is credited
when the purchase is recorded; a return takes it back, from what is left in the
wallet, or into a negative balance when the program's ``negative_balance`` is
``allow_negative`` (later cashback pays it off, since the balance is one sum).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from patron.db.engine import insert_rows_returning_ids, one_of
from patron.errors import Conflict, IdempotencyKeyReused, InvalidInput
from patron.programs.service import Program
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


def _entry(program: Program, account: Any, move: WalletMove, now: datetime) -> dict[str, Any]:
    return dict(program_id=program.id, account_id=account.id, member_id=move.member_id,
                kind=move.kind, amount=move.amount, occurred_at=move.occurred_at,
                recorded_at=now, event_id=move.event_pk, order_id=move.order_id,
                idempotency_key=move.key, reason=move.reason, actor=move.actor,
                details=move.details)


def credit_many(conn: Connection, program: Program, moves: Sequence[WalletMove],
                now: datetime) -> list[int]:
    """Cashback (positive amounts) in bulk; returns the entry ids."""
    if not moves:
        return []
    accounts = _accounts(conn, program, [m.member_id for m in moves], now)
    ids = insert_rows_returning_ids(conn, wallet_entries, [
        _entry(program, accounts[m.member_id], m, now) for m in moves])
    totals: dict[int, int] = {}
    for move in moves:
        account = accounts[move.member_id]
        totals[account.id] = totals.get(account.id, 0) + move.amount
    for account_id, amount in sorted(totals.items()):
        conn.execute(update(wallet_accounts).where(wallet_accounts.c.id == account_id)
                     .values(balance=wallet_accounts.c.balance + amount))
    return ids


def claw_back(conn: Connection, program: Program, move: WalletMove, now: datetime
              ) -> tuple[int, int]:
    """Take back cashback (``move.amount`` > 0); returns (taken, forgiven)."""
    account = _accounts(conn, program, [move.member_id], now, lock=True)[move.member_id]
    allow_negative = program.settings.negative_balance == "allow_negative"
    taken = move.amount if allow_negative else max(0, min(move.amount, account.balance))
    forgiven = move.amount - taken
    entry = WalletMove(**{**move.__dict__, "amount": -taken, "kind": "reverse",
                          "details": {**move.details, "forgiven": forgiven}})
    conn.execute(insert(wallet_entries).values(**_entry(program, account, entry, now)))
    conn.execute(update(wallet_accounts).where(wallet_accounts.c.id == account.id)
                 .values(balance=wallet_accounts.c.balance - taken))
    return taken, forgiven


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
    done = conn.execute(update(wallet_accounts).where(
        wallet_accounts.c.id == account.id, wallet_accounts.c.balance >= move.amount)
        .values(balance=wallet_accounts.c.balance - move.amount))
    if done.rowcount != 1:
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
    from patron.members.service import require_member

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
    done = conn.execute(update(wallet_accounts).where(
        wallet_accounts.c.id == account.id, wallet_accounts.c.balance >= amount)
        .values(balance=wallet_accounts.c.balance - amount))
    if done.rowcount != 1:
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
    from patron.members.service import require_member

    require_member(conn, program, member_id)
    account = conn.execute(select(wallet_accounts).where(
        wallet_accounts.c.program_id == program.id,
        wallet_accounts.c.member_id == member_id)).first()
    if account is None:
        return dict(member_id=member_id, currency=program.settings.currency, balance=0,
                    entries=[], next_cursor=None)
    query = select(wallet_entries).where(wallet_entries.c.account_id == account.id)
    if entry_id is not None:
        query = query.where(wallet_entries.c.id == entry_id)
    if before is not None:
        query = query.where(wallet_entries.c.id < before)
    rows = list(conn.execute(query.order_by(wallet_entries.c.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return dict(member_id=member_id, currency=account.currency, balance=account.balance,
                entries=[dict(id=r.id, kind=r.kind, amount=r.amount, occurred_at=r.occurred_at,
                              order_id=r.order_id, reason=r.reason,
                              details={k: v for k, v in r.details.items() if k != "request"})
                         for r in rows],
                next_cursor=rows[-1].id if more and rows else None)


def totals(conn: Connection, account_id: int) -> int:
    """The balance recomputed from the entries, for audits and tests."""
    return int(conn.execute(select(func.coalesce(func.sum(wallet_entries.c.amount), 0))
                            .where(wallet_entries.c.account_id == account_id)).scalar_one())
