"""Point transfer throughput on PostgreSQL: Patron beside the same rows written through the driver.

Transfers per second with 1 and 4 concurrent clients, each transfer one
transaction, two ways:

- Patron: ``patron.transfers.service.transfer`` through ``Database.transact``,
  exactly what ``POST /members/{id}/transfers`` runs (without HTTP): both
  accounts locked in id order, the idempotency key and the day's total read
  under the lock, the program's limits checked, the guarded debit, the
  sender's lot taken soonest-expiring first, a new lot for the receiver, and
  the transfer row.
- raw: the same rows by hand through psycopg: both account rows locked in id
  order, the guarded debit, the soonest-expiring open lot read and updated, the
  out entry and its lot move, the in entry, the receiver's lot and balance, the
  transfer row. No idempotency, limit or household checks: the floor of what a
  transfer must write.

Member ``i`` gives to member ``i + 1``, round-robin; every member holds one lot
with points for every transfer of the run. Each run ends by checking that each
program's points are where they should be: every balance equal to its entries and
lots, the total unchanged, one transfer row per success.

    .venv/bin/python benchmarks/transfers.py
    .venv/bin/python benchmarks/transfers.py --seconds 20 --clients 1 4 8
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import func, select

from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.ledger.service import credit_points
from patron.ledger.tables import accounts, ledger_entries, lots
from patron.members.schemas import MemberCreate
from patron.flows.enrolment import create_member
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program
from patron.program.document import ProgramDocument
from patron.transfers import service
from patron.transfers.schemas import TransferCreate
from patron.transfers.tables import point_transfers

from _common import Rate, pg_server_default, run_clients, scratch_database
ACTOR = "bench"
POINTS = 10


@dataclass
class Fixture:
    program: Program
    members: list[int]
    accounts: dict[int, int]
    points: int


def make_fixture(db: Database, members: int, points: int, now: datetime) -> Fixture:
    document = ProgramDocument.model_validate({
        "name": "Benchmark", "settings": {"pending_days": 0, "expiry": {"days": 365}},
        "transfers": {"enabled": True}})
    program = db.transact(lambda conn: create_program(
        conn, slug=f"bench-{uuid.uuid4().hex[:10]}", name="Benchmark",
        settings=ProgramSettings(), now=now, document=document))
    ids: list[int] = []

    def enrol(conn: Any, first: int, count: int) -> None:
        for n in range(first, first + count):
            member = create_member(conn, program, MemberCreate.model_validate(
                {"identities": [{"type": "external_id", "value": f"m{n}"}]}), now)
            credit_points(conn, program, member.id, points=points, reason="opening",
                          key="open", actor=ACTOR, now=now)
            ids.append(member.id)

    for first in range(0, members, 500):
        db.transact(lambda conn: enrol(conn, first, min(500, members - first)))
    found = db.read(lambda conn: {r.member_id: r.id for r in conn.execute(
        select(accounts.c.member_id, accounts.c.id)
        .where(accounts.c.program_id == program.id))})
    return Fixture(program, ids, found, points)


def pair(fixture: Fixture, job: int) -> tuple[int, int]:
    members = fixture.members
    return members[job % len(members)], members[(job + 1) % len(members)]


def patron_run(db: Database, fixture: Fixture, *, clients: int, count: int,
               seconds: float) -> Rate:
    run = uuid.uuid4().hex[:6]

    def send(_: Any, job: int) -> None:
        sender, receiver = pair(fixture, job)
        payload = TransferCreate(to_member_id=receiver, points=POINTS,
                                 idempotency_key=f"{run}-{job}")
        db.transact(lambda conn: service.transfer(conn, fixture.program, sender, payload,
                                                  actor=ACTOR, now=datetime.now(UTC)))

    return run_clients(clients, count, seconds, send, lambda: None, lambda _: None)


LOCK_BOTH = "SELECT id FROM accounts WHERE id IN (%s, %s) ORDER BY id FOR UPDATE"
GUARDED_DEBIT = "UPDATE accounts SET available = available - %s WHERE id = %s AND available >= %s"
CREDIT = "UPDATE accounts SET available = available + %s WHERE id = %s"
SOONEST_LOT = ("SELECT id, remaining, earned_at, available_at, expires_at FROM lots "
               "WHERE account_id = %s AND state = 'open' AND remaining > 0 "
               "ORDER BY expires_at IS NULL, expires_at, earned_at, id LIMIT 1")
UPDATE_LOT = ("UPDATE lots SET remaining = remaining - %s, state = CASE WHEN remaining = %s "
              "THEN 'closed' ELSE state END WHERE id = %s")
INSERT_ENTRY = ("INSERT INTO ledger_entries (program_id, account_id, member_id, kind, points, "
                "status, occurred_at, recorded_at, idempotency_key, reason, actor, details) "
                "VALUES (%s, %s, %s, 'transfer', %s, 'posted', %s, %s, %s, %s, %s, %s) "
                "RETURNING id")
INSERT_MOVE = "INSERT INTO lot_moves (entry_id, lot_id, points) VALUES (%s, %s, %s)"
INSERT_LOT = ("INSERT INTO lots (program_id, account_id, entry_id, points, remaining, state, "
              "earned_at, available_at, expires_at) VALUES (%s, %s, %s, %s, %s, 'open', %s, %s, "
              "%s)")
INSERT_TRANSFER = (
    "INSERT INTO point_transfers (program_id, from_member_id, to_member_id, points, "
    "idempotency_key, local_day, out_entry_id, in_entry_id, actor, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


def raw_transfer(conn: psycopg.Connection, fixture: Fixture, job: int, key: str) -> None:
    sender, receiver = pair(fixture, job)
    source, target = fixture.accounts[sender], fixture.accounts[receiver]
    pid, now = fixture.program.id, datetime.now(UTC)
    with conn.transaction():
        cur = conn.cursor()
        cur.execute(LOCK_BOTH, (source, target))
        if cur.execute(GUARDED_DEBIT, (POINTS, source, POINTS)).rowcount != 1:
            raise RuntimeError("insufficient points")
        lot_id, _, earned_at, available_at, expires_at = cur.execute(
            SOONEST_LOT, (source,)).fetchone()
        cur.execute(UPDATE_LOT, (POINTS, POINTS, lot_id))
        out_id = cur.execute(INSERT_ENTRY, (
            pid, source, sender, -POINTS, now, now, f"{key}:out",
            f"Sent {POINTS} points to member {receiver}", ACTOR,
            json.dumps({"to_member_id": receiver}))).fetchone()[0]
        cur.execute(INSERT_MOVE, (out_id, lot_id, -POINTS))
        in_id = cur.execute(INSERT_ENTRY, (
            pid, target, receiver, POINTS, now, now, f"{key}:in",
            f"Received {POINTS} points from member {sender}", ACTOR,
            json.dumps({"from_member_id": sender}))).fetchone()[0]
        cur.execute(INSERT_LOT, (pid, target, in_id, POINTS, POINTS, earned_at, available_at,
                                 expires_at))
        cur.execute(CREDIT, (POINTS, target))
        cur.execute(INSERT_TRANSFER, (pid, sender, receiver, POINTS, key,
                                      now.date().isoformat(), out_id, in_id, ACTOR, now))


def raw_run(dsn: str, fixture: Fixture, *, clients: int, count: int, seconds: float
            ) -> Rate:
    run = uuid.uuid4().hex[:6]
    return run_clients(clients, count, seconds,
                       lambda conn, job: raw_transfer(conn, fixture, job, f"{run}-{job}"),
                       lambda: psycopg.connect(dsn), lambda conn: conn.close())



def check(db: Database, name: str, fixture: Fixture, rate: Rate) -> list[str]:
    pid = fixture.program.id

    def work(conn: Any) -> list[str]:
        def total(query: Any) -> int:
            return int(conn.execute(query).scalar() or 0)

        available = total(select(func.sum(accounts.c.available))
                          .where(accounts.c.program_id == pid))
        posted = total(select(func.sum(ledger_entries.c.points))
                       .where(ledger_entries.c.program_id == pid))
        open_lots = total(select(func.sum(lots.c.remaining))
                          .where(lots.c.program_id == pid, lots.c.state == "open"))
        rows = total(select(func.count()).select_from(point_transfers)
                     .where(point_transfers.c.program_id == pid))
        expected = len(fixture.members) * fixture.points
        problems = []
        if not available == posted == open_lots == expected:
            problems.append(f"{name}: points {available}/{posted}/{open_lots}, "
                            f"expected {expected}")
        if rows != rate.done:
            problems.append(f"{name}: {rows} transfer rows for {rate.done} transfers")
        return problems
    return db.read(work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args(argv)

    problems: list[str] = []
    with scratch_database("postgresql", args.pg_url) as scratch:
        db = create_database(scratch.url)
        upgrade(db)
        now = datetime.now(UTC)
        points = POINTS * (args.count // args.members + 2)
        patron_run(db, make_fixture(db, 50, points * 10, now), clients=1, count=200,
                   seconds=3)
        print(f"{'clients':>7} {'Patron/s':>10} {'raw/s':>10} {'Patron/raw':>11}")
        for clients in args.clients:
            patron_side = make_fixture(db, args.members, points, now)
            raw_side = make_fixture(db, args.members, points, now)
            run = dict(clients=clients, count=args.count, seconds=args.seconds)
            raw = raw_run(scratch.pg_dsn, raw_side, **run)
            patron = patron_run(db, patron_side, **run)
            problems += check(db, f"{clients} client(s) Patron", patron_side, patron)
            problems += check(db, f"{clients} client(s) raw", raw_side, raw)
            problems += [f"{side}: {r.errors} failed" for side, r in
                         (("Patron", patron), ("raw", raw)) if r.errors]
            ratio = patron.per_second / raw.per_second if raw.per_second else 0.0
            print(f"{clients:>7} {patron.per_second:>10,.0f} {raw.per_second:>10,.0f} "
                  f"{ratio:>11.2f}")
        db.dispose()
    print(f"load average: {' '.join(open('/proc/loadavg').read().split()[:3])} "
          f"({os.cpu_count()} CPUs)")
    for line in problems:
        print(f"check failed: {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
