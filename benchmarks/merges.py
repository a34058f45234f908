"""Merge and undo of two members with 10,000 ledger entries each, on SQLite and PostgreSQL.

Each member earns ``--entries`` times (one entry and one open lot each, spread over
the past year so every lot has its own expiry): the worst case for a merge, which
moves every live lot as a copy with its expiry and links each to its copy. One lot in
ten is still pending (earned in the last 30 days), so both kinds of lot move. Timed, each in its own
transaction as ``POST /members/{id}/merges`` and ``POST /merges/{id}/undo`` run them
(without HTTP): ``merge_members`` and ``undo_merge``.

Beside them, the same run's raw baseline: one ``INSERT ... SELECT`` copying the
merged member's ledger entries and one copying its lots (the rows a merge must at
least write), in one transaction, rolled back.

After the undo, both members' balances must equal what they were before the merge
and agree with their entries and lots (the run fails otherwise).

    .venv/bin/python benchmarks/merges.py
    .venv/bin/python benchmarks/merges.py --entries 10000 --databases sqlite postgresql
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from patron.db import create_database
from patron.db.migrate import upgrade
from patron.flows.enrolment import create_member
from patron.flows.merging import merge_members, undo_merge
from patron.ledger import repository as ledger_repository
from patron.ledger.service import EntryMeta, Earn, earn_many
from patron.members.schemas import MemberCreate
from patron.program.domain import ProgramSettings
from patron.program.service import create_program

from _common import pg_server_default, scratch_database

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _seed(db: Any, entries: int) -> tuple[Any, int, int]:
    program = db.transact(lambda conn: create_program(
        conn, slug="bench", name="Bench", settings=ProgramSettings(
            currency="USD", pending_days=30, expiry={"days": 365}), now=NOW))
    members = [db.transact(lambda conn, n=n: create_member(conn, program, MemberCreate(
        identities=[{"type": "email", "value": f"bench{n}@example.com"}]), NOW)).id
        for n in range(2)]
    for member_id in members:
        earns = [Earn(member_id, 1 + n % 50, n >= entries * 9 // 10,
                      EntryMeta(NOW - timedelta(minutes=50 * (entries - n) * 10_000 // entries),
                                f"seed:{member_id}:{n}", "seed", "bench"))
                 for n in range(entries)]
        db.transact(lambda conn, earns=earns: earn_many(conn, program, earns, NOW))
    return program, members[0], members[1]


def _state(db: Any, program: Any, member_id: int) -> tuple[int, int, int]:
    def read(conn: Any) -> tuple[int, int, int]:
        account = ledger_repository.accounts_by_member(conn, program.id, [member_id])[member_id]
        totals = ledger_repository.ledger_totals(conn, account.id)
        assert account.available == totals["available"] == totals["open_lots"], totals
        return account.available, account.pending, len(ledger_repository.live_lots(
            conn, account.id))
    return db.read(read)


def _raw_baseline(db: Any, program: Any, merged_id: int) -> float:
    """Copy the merged member's entries and lots with INSERT ... SELECT; rolled back."""
    columns = ("program_id, account_id, member_id, kind, points, status, occurred_at, "
               "recorded_at, available_at, event_id, order_id, reason, actor, details")
    with db.engine.connect() as conn:
        account = ledger_repository.accounts_by_member(conn, program.id, [merged_id])[merged_id]
        conn.rollback()
        start = time.perf_counter()
        with conn.begin() as tx:
            conn.execute(text(
                f"INSERT INTO ledger_entries ({columns}, idempotency_key) "
                f"SELECT {columns}, idempotency_key || :suffix FROM ledger_entries "
                "WHERE account_id = :a"), {"a": account.id, "suffix": "-copy"})
            conn.execute(text(
                "INSERT INTO lots (program_id, account_id, entry_id, points, remaining, state, "
                "earned_at, available_at, expires_at) SELECT program_id, account_id, entry_id, "
                "remaining, remaining, state, earned_at, available_at, expires_at FROM lots "
                "WHERE account_id = :a"), {"a": account.id})
            elapsed = time.perf_counter() - start
            tx.rollback()
    return elapsed


def run(kind: str, pg_server: str, entries: int) -> dict[str, float]:
    with scratch_database(kind, pg_server) as scratch:
        db = create_database(scratch.url)
        upgrade(db)
        try:
            program, survivor, merged = _seed(db, entries)
            before = {m: _state(db, program, m) for m in (survivor, merged)}
            start = time.perf_counter()
            merge_id = db.transact(lambda conn: merge_members(
                conn, program, survivor, merged, reason="bench", actor="bench", now=NOW))
            merged_s = time.perf_counter() - start
            together = _state(db, program, survivor)
            assert together[0] == before[survivor][0] + before[merged][0], together
            start = time.perf_counter()
            db.transact(lambda conn: undo_merge(conn, program, merge_id, actor="bench",
                                                now=NOW))
            undone_s = time.perf_counter() - start
            after = {m: _state(db, program, m) for m in (survivor, merged)}
            assert after == before, (after, before)
            raw_s = _raw_baseline(db, program, merged)
        finally:
            db.engine.dispose()
    return {"merge": merged_s, "undo": undone_s, "raw": raw_s, "lots": before[merged][2]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--pg-url", default=pg_server_default())
    args = parser.parse_args(argv)
    print(f"merge and undo, two members with {args.entries:,} ledger entries each "
          "(goal < 1 s each)")
    print(f"{'database':<11} {'lots moved':>10} {'Patron merge s':>15} {'Patron undo s':>14} "
          f"{'raw INSERT..SELECT s':>21} {'merge/raw':>10} {'undo/raw':>9}")
    for kind in args.databases:
        r = run(kind, args.pg_url, args.entries)
        print(f"{kind:<11} {r['lots']:>10,} {r['merge']:>15.3f} {r['undo']:>14.3f} "
              f"{r['raw']:>21.3f} {r['merge'] / r['raw']:>9.1f}x {r['undo'] / r['raw']:>8.1f}x")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
