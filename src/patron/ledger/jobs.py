"""Scheduled sweeps: release pending points, expire lots, tell of points expiring soon.

Each is idempotent: each account is locked, its due lots are read again under
the lock and moved to their next state in the same transaction, so running a
sweep twice (or two at once) finds nothing left to do the second time.

What expired is announced (``hooks.PointsExpired``) once per program for each
batch of accounts, in that batch's transaction. Points that will expire within the
notice period are announced (``hooks.PointsExpiringSoon``) once per account and expiry
day: ``expiry_notices`` remembers what was told.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.db import Database
from patron.ledger import domain, repository
from patron.ledger.domain import EntryKind, LotState, expiring_days
from patron.ledger.service import (EntryMeta, announce_rises, moved, settle_debts,
                                   write_posting)
from patron.program.service import Program, get_program

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


class _Releases:
    """One transaction of the release sweep: the points released are not earned again
    (see ``hooks.PointsEarned``), but the available balances that rose are announced
    (``hooks.PointsAvailable``) per program at the end."""

    def __init__(self) -> None:
        self.programs: dict[int, Program] = {}
        self.rises: dict[int, list[hooks.BalanceRise]] = defaultdict(list)

    def account(self, conn: Connection, account: Any, now: datetime) -> SweepResult:
        result = _release_account(conn, account, now)
        if result.points > 0:
            if account.program_id not in self.programs:
                self.programs[account.program_id] = get_program(conn, account.program_id)
            self.rises[account.program_id].append(hooks.BalanceRise(
                account.member_id, account.id, account.available,
                account.available + result.points, now))
        return result

    def done(self, conn: Connection) -> None:
        for program_id, rises in self.rises.items():
            announce_rises(conn, self.programs[program_id], rises)


class _Expiries:
    """One transaction of the expiry sweep; what expired is announced per program at the end."""

    def __init__(self) -> None:
        self.programs: dict[int, Program] = {}
        self.moves: dict[int, list[hooks.PointsMoved]] = defaultdict(list)

    def account(self, conn: Connection, account: Any, now: datetime) -> SweepResult:
        """One expire entry per day the account's due lots expired, each dated that day."""
        program = self._program(conn, account.program_id)
        lots = {lot.id: lot for lot in repository.live_lots(conn, account.id)}
        due = domain.due_for_expiry(lots.values(), now)
        expired = 0
        for expiry in domain.expiries(due, program.settings.zone):
            if expiry.posting is None:
                continue
            ids = [lot.id for lot in expiry.lots]
            key = "expire:" + hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:32]
            meta = EntryMeta(expiry.at, key, f"{-expiry.posting.points} points expired unused",
                             "job:expire", details={"lot_ids": ids})
            entry_id = write_posting(conn, account.program_id, account, expiry.posting, meta,
                                     lots, now)
            expired -= expiry.posting.points
            self.moves[program.id].append(moved(account.member_id, -expiry.posting.points, meta,
                                                account.id, EntryKind.EXPIRE, entry_id))
        if expired:
            repository.apply_deltas(conn, {account.id: (-expired, 0, 0)})
        repository.update_lots(conn, [replace(lot, state=LotState.EXPIRED, remaining=0)
                                      for lot in due])
        return SweepResult(accounts=1, lots=len(due), points=expired)

    def _program(self, conn: Connection, program_id: int) -> Program:
        if program_id not in self.programs:
            self.programs[program_id] = get_program(conn, program_id)
        return self.programs[program_id]

    def done(self, conn: Connection) -> None:
        """One ``PointsExpired`` per program, in the batch's transaction."""
        for program_id, moves in self.moves.items():
            hooks.emit(conn, hooks.PointsExpired(self.programs[program_id], tuple(moves)))


def _sweep(db: Database, state: LotState, column: str,
           new_batch: Callable[[], _Releases | _Expiries], now: datetime) -> SweepResult:
    total = SweepResult()
    while True:
        def batch(conn: Connection) -> SweepResult:
            found, work = SweepResult(), new_batch()
            for account_id in repository.accounts_with_due_lots(conn, state, column, now,
                                                                BATCH_ACCOUNTS):
                account = repository.account_row(conn, account_id, lock=True)
                found.add(work.account(conn, account, now))
            work.done(conn)
            return found
        done = db.transact(batch)
        total.add(done)
        if done.accounts < BATCH_ACCOUNTS:
            return total


def release_pending(db: Database, now: datetime) -> SweepResult:
    return _sweep(db, LotState.PENDING, "available_at", _Releases, now)


def expire_lots(db: Database, now: datetime) -> SweepResult:
    return _sweep(db, LotState.OPEN, "expires_at", _Expiries, now)


@dataclass
class NoticeResult:
    notices: int = 0
    points: int = 0


def _notice_batch(conn: Connection, account_ids: list[int], now: datetime,
                  end: datetime) -> NoticeResult:
    """Notices for these accounts' days not told of yet, announced per program."""
    rows = repository.lots_expiring(conn, account_ids, now, end)
    members = {row.account_id: (row.program_id, row.member_id) for row in rows}
    noticed = repository.noticed_days(conn, account_ids, (now - timedelta(days=1)).date())
    done = NoticeResult()
    for program_id in sorted({program_id for program_id, _ in members.values()}):
        program = get_program(conn, program_id)
        days = [day for day in expiring_days(
                    ((row.account_id, row.remaining, row.expires_at) for row in rows
                     if row.program_id == program_id), program.settings.zone)
                if (day.account_id, day.day) not in noticed]
        if not days:
            continue
        ids = repository.insert_notices(conn, [
            {"program_id": program_id, "account_id": day.account_id,
             "member_id": members[day.account_id][1], "day": day.day,
             "expires_at": day.expires_at, "points": day.points, "noticed_at": now}
            for day in days])
        hooks.emit(conn, hooks.PointsExpiringSoon(program, tuple(
            hooks.ExpiryNotice(members[day.account_id][1], day.account_id, day.points,
                               day.expires_at, notice_id)
            for day, notice_id in zip(days, ids))))
        done.notices += len(days)
        done.points += sum(day.points for day in days)
    return done


def notice_expiring(db: Database, now: datetime, days: int) -> NoticeResult:
    """Tell of open lots expiring within ``days`` (0: never), once per account and day.

    Two sweeps at once cannot tell twice: ``expiry_notices`` is unique per account and
    day, so the later insert fails, and its transaction runs again and finds it told.
    """
    total, after = NoticeResult(), 0
    if days <= 0:
        return total
    end = now + timedelta(days=days)
    while True:
        def batch(conn: Connection) -> tuple[NoticeResult, list[int]]:
            account_ids = repository.accounts_expiring(conn, now, end, after, BATCH_ACCOUNTS)
            if not account_ids:
                return NoticeResult(), []
            return _notice_batch(conn, account_ids, now, end), account_ids
        done, account_ids = db.transact(batch)
        total.notices += done.notices
        total.points += done.points
        if len(account_ids) < BATCH_ACCOUNTS:
            return total
        after = account_ids[-1]


def run_all(db: Database, now: datetime) -> dict[str, SweepResult]:
    """Release first, so points that became available and expired are seen as such."""
    return {"release": release_pending(db, now), "expire": expire_lots(db, now)}
