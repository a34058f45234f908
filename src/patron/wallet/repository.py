"""Wallet queries for cashback held through the return window (``wallet_holds``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from patron.db.engine import insert_rows
from patron.wallet.tables import wallet_accounts, wallet_entries, wallet_holds

PENDING, RELEASED = "pending", "released"


def insert_holds(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, wallet_holds, rows)


def hold_of_entry(conn: Connection, entry_id: int) -> Any | None:
    """The hold of one cashback credit; read under the account's lock."""
    return conn.execute(select(wallet_holds).where(wallet_holds.c.entry_id == entry_id)).first()


def take_from_hold(conn: Connection, hold_id: int, amount: int) -> bool:
    """Lower a still-pending hold by ``amount``, guarded so it never goes below zero."""
    done = conn.execute(update(wallet_holds).where(
        wallet_holds.c.id == hold_id, wallet_holds.c.state == PENDING,
        wallet_holds.c.remaining >= amount)
        .values(remaining=wallet_holds.c.remaining - amount))
    return done.rowcount == 1


def accounts_with_due_holds(conn: Connection, now: datetime, limit: int) -> list[int]:
    return list(conn.execute(
        select(wallet_holds.c.account_id).where(wallet_holds.c.state == PENDING,
                                                wallet_holds.c.available_at <= now)
        .group_by(wallet_holds.c.account_id).order_by(wallet_holds.c.account_id)
        .limit(limit)).scalars())


def due_holds(conn: Connection, account_id: int, now: datetime) -> list[Any]:
    """An account's holds past their window, with the credit they hold back."""
    return list(conn.execute(
        select(wallet_holds, wallet_entries.c.member_id, wallet_entries.c.event_id,
               wallet_entries.c.order_id)
        .join(wallet_entries, wallet_entries.c.id == wallet_holds.c.entry_id)
        .where(wallet_holds.c.account_id == account_id, wallet_holds.c.state == PENDING,
               wallet_holds.c.available_at <= now)
        .order_by(wallet_holds.c.id)))


def release_holds(conn: Connection, hold_ids: Sequence[int]) -> None:
    if hold_ids:
        conn.execute(update(wallet_holds).where(wallet_holds.c.id.in_(list(hold_ids)))
                     .values(state=RELEASED, remaining=0))


def lock_account(conn: Connection, account_id: int) -> Any:
    """The account row, locked on PostgreSQL (SQLite serialises writers already)."""
    query = select(wallet_accounts).where(wallet_accounts.c.id == account_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).one()


def guarded_debit(conn: Connection, account_id: int, amount: int) -> bool:
    """Take ``amount`` from the spendable balance only if it holds that much: two
    debits can never both take the same cent."""
    done = conn.execute(update(wallet_accounts).where(
        wallet_accounts.c.id == account_id, wallet_accounts.c.balance >= amount)
        .values(balance=wallet_accounts.c.balance - amount))
    return done.rowcount == 1


def move_balances(conn: Connection, account_id: int, *, balance: int = 0,
                  pending: int = 0) -> None:
    if balance or pending:
        conn.execute(update(wallet_accounts).where(wallet_accounts.c.id == account_id)
                     .values(balance=wallet_accounts.c.balance + balance,
                             pending=wallet_accounts.c.pending + pending))


def accounts_of(conn: Connection, program_id: int, currency: str, member_ids: Sequence[int],
                now: datetime) -> dict[int, Any]:
    """The members' wallet accounts, opened where missing, locked in id order
    (PostgreSQL; SQLite serialises writers already): what a merge moves money between."""
    query = select(wallet_accounts).where(wallet_accounts.c.program_id == program_id,
                                          wallet_accounts.c.member_id.in_(list(member_ids)))
    found = {row.member_id for row in conn.execute(query)}
    missing = [m for m in member_ids if m not in found]
    if missing:
        insert_rows(conn, wallet_accounts, [
            dict(program_id=program_id, member_id=m, currency=currency, balance=0, pending=0,
                 created_at=now) for m in missing])
    query = query.order_by(wallet_accounts.c.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.member_id: row for row in conn.execute(query)}


def insert_entries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, wallet_entries, rows)


def holds_by_id(conn: Connection, hold_ids: Sequence[int]) -> list[Any]:
    if not hold_ids:
        return []
    return list(conn.execute(select(wallet_holds).where(wallet_holds.c.id.in_(list(hold_ids)))))


def pending_holds_of(conn: Connection, account_id: int) -> list[Any]:
    return list(conn.execute(select(wallet_holds).where(
        wallet_holds.c.account_id == account_id, wallet_holds.c.state == PENDING,
        wallet_holds.c.remaining > 0).order_by(wallet_holds.c.id)))


def repoint_holds(conn: Connection, hold_ids: Sequence[int], account_id: int) -> None:
    """Hand pending holds to another account (a merge or its undo); the release sweep then
    credits that account."""
    if hold_ids:
        conn.execute(update(wallet_holds).where(wallet_holds.c.id.in_(list(hold_ids)))
                     .values(account_id=account_id))
