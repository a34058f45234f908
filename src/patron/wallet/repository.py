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
