"""Scheduled sweep: cashback held through the return window becomes spendable.

It runs beside the release of pending points (``patron jobs run``). Each account
is locked and its due holds read again under the lock, then released with a
``release`` entry in the same transaction, so running the sweep twice (or two at
once) finds nothing left to do the second time, and a return at the same moment
takes from the hold or from the balance, never from both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from patron.db import Database
from patron.db.engine import insert_rows
from patron.wallet import repository
from patron.wallet.tables import wallet_entries

BATCH_ACCOUNTS = 200
REASON = "Cashback is now spendable: the return window has passed"


@dataclass
class ReleaseResult:
    accounts: int = 0
    holds: int = 0
    amount: int = 0


def _release_account(conn: Connection, account_id: int, now: datetime) -> ReleaseResult:
    account = repository.lock_account(conn, account_id)
    due = repository.due_holds(conn, account.id, now)
    rows = [dict(program_id=hold.program_id, account_id=account.id, member_id=hold.member_id,
                 kind="release", amount=hold.remaining, status="posted",
                 occurred_at=hold.available_at, recorded_at=now, event_id=hold.event_id,
                 order_id=hold.order_id, idempotency_key=f"release:hold:{hold.id}",
                 reason=REASON, actor="job:release", details={"released_entry": hold.entry_id})
            for hold in due if hold.remaining > 0]
    insert_rows(conn, wallet_entries, rows)
    repository.release_holds(conn, [hold.id for hold in due])
    amount = sum(row["amount"] for row in rows)
    repository.move_balances(conn, account.id, balance=amount, pending=-amount)
    return ReleaseResult(accounts=1, holds=len(due), amount=amount)


def release_pending(db: Database, now: datetime) -> ReleaseResult:
    """Release every hold whose return window has passed, a batch of accounts at a time."""
    total = ReleaseResult()
    while True:
        def batch(conn: Connection) -> ReleaseResult:
            found = ReleaseResult()
            for account_id in repository.accounts_with_due_holds(conn, now, BATCH_ACCOUNTS):
                done = _release_account(conn, account_id, now)
                found.accounts += done.accounts
                found.holds += done.holds
                found.amount += done.amount
            return found
        done = db.transact(batch)
        total.accounts += done.accounts
        total.holds += done.holds
        total.amount += done.amount
        if done.accounts < BATCH_ACCOUNTS:
            return total
