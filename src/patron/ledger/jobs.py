"""Scheduled sweeps: release pending points, expire lots.

Both are idempotent: each account is locked, its due lots are read again under
the lock and moved to their next state in the same transaction, so running a
sweep twice (or two at once) finds nothing left to do the second time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from patron.db import Database
from patron.ledger import domain, repository
from patron.ledger.domain import LotState
from patron.ledger.service import EntryMeta, settle_debts, write_posting
from patron.program.service import get_program

BATCH_ACCOUNTS = 200


@dataclass
class SweepResult:
    accounts: int = 0
    lots: int = 0
    points: int = 0

    def add(self, other: "SweepResult") -> None:
        self.accounts += other.accounts
        self.lots += other.lots
        self.points += other.points


def _release_account(conn: Connection, account: Any, now: datetime) -> SweepResult:
    result = SweepResult(accounts=1)
    lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
    due = domain.due_for_release(lots.values(), now)
    changed, available = [], 0
    for lot in sorted(due, key=lambda lot: lot.id):
        posting = domain.release(lot)
        if posting:
            meta = EntryMeta(lot.available_at, f"release:lot:{lot.id}",
                             "Pending points are now available: the return window has passed",
                             "job:release", details={"lot_id": lot.id})
            write_posting(conn, account.program_id, account, posting, meta, lots, now)
            available += posting.points
        state = LotState.OPEN if lot.remaining > 0 else LotState.CLOSED
        changed.append(replace(lot, state=state))
        result.lots += 1
    repository.update_lots(conn, changed)
    repository.apply_deltas(conn, {account.id: (available, -available, 0)})
    if account.available < 0 and available > 0:
        settle_debts(conn, account.program_id, [account], now)
    result.points = available
    return result


def _expire_account(conn: Connection, account: Any, now: datetime,
                    zones: dict[int, ZoneInfo]) -> SweepResult:
    """One expire entry per day the account's due lots expired, each dated that day."""
    if account.program_id not in zones:
        zones[account.program_id] = get_program(conn, account.program_id).settings.zone
    lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
    due = domain.due_for_expiry(lots.values(), now)
    expired = 0
    for expiry in domain.expiries(due, zones[account.program_id]):
        if expiry.posting is None:
            continue
        ids = [lot.id for lot in expiry.lots]
        key = "expire:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:32]
        meta = EntryMeta(expiry.at, key, f"{-expiry.posting.points} points expired unused",
                         "job:expire", details={"lot_ids": ids})
        write_posting(conn, account.program_id, account, expiry.posting, meta, lots, now)
        expired -= expiry.posting.points
    if expired:
        repository.apply_deltas(conn, {account.id: (-expired, 0, 0)})
    repository.update_lots(conn, [replace(lot, state=LotState.EXPIRED, remaining=0)
                                  for lot in due])
    return SweepResult(accounts=1, lots=len(due), points=expired)


def _sweep(db: Database, state: LotState, column: str, handle: Any,
           now: datetime) -> SweepResult:
    total = SweepResult()
    while True:
        def batch(conn: Connection) -> SweepResult:
            found = SweepResult()
            for account_id in repository.accounts_with_due_lots(conn, state, column, now,
                                                                BATCH_ACCOUNTS):
                account = repository.account_row(conn, account_id, lock=True)
                found.add(handle(conn, account, now))
            return found
        done = db.transact(batch)
        total.add(done)
        if done.accounts < BATCH_ACCOUNTS:
            return total


def release_pending(db: Database, now: datetime) -> SweepResult:
    return _sweep(db, LotState.PENDING, "available_at", _release_account, now)


def expire_lots(db: Database, now: datetime) -> SweepResult:
    return _sweep(db, LotState.OPEN, "expires_at", partial(_expire_account, zones={}), now)


def run_all(db: Database, now: datetime) -> dict[str, SweepResult]:
    """Release first, so points that became available and expired are seen as such."""
    return {"release": release_pending(db, now), "expire": expire_lots(db, now)}
