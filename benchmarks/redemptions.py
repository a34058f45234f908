"""Spends and redemptions: Patron over HTTP beside the same rows written through the driver.

For SQLite and PostgreSQL this measures, with 1, 4 and 16 concurrent clients,
two workloads, each request one transaction:

- spend: ``POST /api/v1/members/{id}/spends`` (pay with points at checkout);
- redeem: ``POST /api/v1/members/{id}/redemptions`` of a gift with stock.

Each three ways:

- Patron over HTTP: ``patron serve`` as the README advises (uvicorn; one worker per
  core on PostgreSQL, one on SQLite; ``--workers`` sets it), one keep-alive ``httpx`` client per client thread, an admin API key. This
  is the figure the goals are about (p99 < 20 ms at 4 clients on PostgreSQL, at
  least half the raw rate).
- Patron in process: ``spend_points`` / ``redemption.redeem`` through
  ``Database.transact``, what the endpoints run without HTTP, JSON and auth.
- raw: the same rows by hand, through the driver (sqlite3 / psycopg), one
  transaction per request on as many connections as clients: the guarded debit
  of the account, the soonest-expiring open lot read and updated, the spend entry
  and its lot move; for a redemption also the guarded stock update and the
  redemption row. No eligibility, idempotency or household checks: the floor of
  what the request must write.

Each member holds two lots with enough points for every request of the run, and
requests go to members round-robin. SQLite writers of the in-process and raw
sides queue on an in-process lock (Patron's ``Database`` does; raw writers would
otherwise sleep in SQLite's busy handler). Every run ends by checking what each
program holds: one spend entry and lot move per success (and one redemption and
unit of stock for redemptions), and every balance equal to its entries and its
lots. The machine's load average is printed: on a shared 2-core box, other work
slows Python-heavy paths far more than the driver.

    .venv/bin/python benchmarks/redemptions.py                 # both databases, ~6 min
    .venv/bin/python benchmarks/redemptions.py --db postgresql --clients 4 --seconds 20 --json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from patron.auth.service import Role, create_key
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.flows import redemption
from patron.flows.enrolment import create_member
from patron.ledger.service import credit_points, spend_points
from patron.ledger.tables import accounts, ledger_entries, lot_moves, lots
from patron.members.schemas import MemberCreate
from patron.program.document import ProgramDocument
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program
from patron.rewards.tables import redemptions, reward_stock

from _common import Rate, err, patron_server, pg_server_default
from _common import run_clients as timed_clients
from _common import scratch_database as scratch

ACTOR = "bench"
COST = 100
STOCK = 10**9
REWARD = {"id": "voucher", "name": "Gift voucher", "type": "gift", "cost_points": COST,
          "stock": STOCK}
WORKLOADS = ("spend", "redeem")
SIDES = ("http", "call", "raw")


# --------------------------------------------------------------------------- results

@dataclass
class Row:
    database: str
    workload: str
    clients: int
    http: Rate
    call: Rate
    raw: Rate
    workers: int = 1

    @property
    def ratio(self) -> float:
        return self.http.per_second / self.raw.per_second if self.raw.per_second else 0.0


def run_clients(clients: int, count: int, seconds: float, send: Callable[[Any, int], Any],
                open_client: Callable[[], Any], close_client: Callable[[Any], None]) -> Rate:
    """Concurrent clients; a ``send`` that raises or returns False is a failed request."""
    return timed_clients(clients, count, seconds, send, open_client, close_client)


# --------------------------------------------------------------------------- fixture

@dataclass
class Fixture:
    program: Program
    members: list[int]
    accounts: dict[int, int]  # member id -> account id
    key: str
    points: int
    """Points each member started with."""
    done: int = 0
    """Successful requests so far, over every run on this fixture."""
    runs: list[str] = field(default_factory=list)


def make_fixture(db: Database, members: int, points: int, now: datetime) -> Fixture:
    """A program offering ``REWARD``, with members holding two lots of points each."""
    document = ProgramDocument.model_validate({
        "name": "Benchmark", "settings": {"pending_days": 0, "expiry": {"days": 365}},
        "rewards": [REWARD]})
    program = db.transact(lambda conn: create_program(
        conn, slug=f"bench-{uuid.uuid4().hex[:10]}", name="Benchmark",
        settings=ProgramSettings(), now=now, document=document))
    ids: list[int] = []

    def enrol(conn: Any, first: int, count: int) -> None:
        for n in range(first, first + count):
            member = create_member(conn, program, MemberCreate.model_validate(
                {"identities": [{"type": "external_id", "value": f"m{n}"}]}), now)
            for half in ("a", "b"):
                credit_points(conn, program, member.id, points=points // 2, reason="opening",
                              key=f"open-{half}", actor=ACTOR, now=now)
            ids.append(member.id)

    for first in range(0, members, 500):
        db.transact(lambda conn: enrol(conn, first, min(500, members - first)))
    found = db.read(lambda conn: {r.member_id: r.id for r in conn.execute(
        select(accounts.c.member_id, accounts.c.id)
        .where(accounts.c.program_id == program.id))})
    key = db.transact(lambda conn: create_key(conn, program_id=program.id, role=Role.ADMIN,
                                              name="bench", now=now)).key
    return Fixture(program, ids, found, key, points)


# --------------------------------------------------------------------------- Patron

def call_run(db: Database, fixture: Fixture, workload: str, *, clients: int, count: int,
             seconds: float) -> Rate:
    """In process: what the endpoint runs, through ``Database.transact``."""
    members, run = fixture.members, uuid.uuid4().hex[:6]

    def send(_: Any, job: int) -> None:
        member_id = members[job % len(members)]
        if workload == "spend":
            db.transact(lambda conn: spend_points(
                conn, fixture.program, member_id, points=COST, reason="bench spend",
                key=f"spend:{run}-{job}", actor=ACTOR, now=datetime.now(UTC)))
        else:
            db.transact(lambda conn: redemption.redeem(
                conn, fixture.program, member_id, reward_id=REWARD["id"], key=f"{run}-{job}",
                actor=ACTOR, now=datetime.now(UTC)))

    return run_clients(clients, count, seconds, send, lambda: None, lambda _: None)


def http_run(base: str, fixture: Fixture, workload: str, *, clients: int, count: int,
             seconds: float) -> Rate:
    """Over HTTP: one keep-alive client per thread."""
    members, run = fixture.members, uuid.uuid4().hex[:6]
    headers = {"Authorization": f"Bearer {fixture.key}", "Content-Type": "application/json"}
    path = "spends" if workload == "spend" else "redemptions"

    def body(job: int) -> bytes:
        if workload == "spend":
            return json.dumps({"points": COST, "reason": "bench spend",
                               "idempotency_key": f"{run}-{job}"}).encode()
        return json.dumps({"reward_id": REWARD["id"], "idempotency_key": f"{run}-{job}"}).encode()

    def send(client: httpx.Client, job: int) -> bool:
        member_id = members[job % len(members)]
        response = client.post(f"/api/v1/members/{member_id}/{path}", content=body(job))
        if response.status_code != 201:
            err.print(f"[red]{response.status_code}[/red] {response.text[:300]}")
            return False
        return True

    return run_clients(clients, count, seconds, send,
                       lambda: httpx.Client(base_url=base, headers=headers, timeout=60),
                       lambda client: client.close())


# --------------------------------------------------------------------------- raw

GUARDED_DEBIT = "UPDATE accounts SET available = available - %s WHERE id = %s AND available >= %s"
SOONEST_LOT = ("SELECT id, remaining FROM lots WHERE account_id = %s AND state = 'open' "
               "AND remaining > 0 ORDER BY expires_at IS NULL, expires_at, earned_at, id LIMIT 1")
UPDATE_LOT = ("UPDATE lots SET remaining = remaining - %s, state = CASE WHEN remaining = %s "
              "THEN 'closed' ELSE state END WHERE id = %s")
INSERT_ENTRY = ("INSERT INTO ledger_entries (program_id, account_id, member_id, kind, points, "
                "status, occurred_at, recorded_at, idempotency_key, reason, actor, details) "
                "VALUES (%s, %s, %s, 'spend', %s, 'posted', %s, %s, %s, %s, %s, %s) RETURNING id")
INSERT_MOVE = "INSERT INTO lot_moves (entry_id, lot_id, points) VALUES (%s, %s, %s)"
TAKE_STOCK = ("UPDATE reward_stock SET remaining = remaining - 1, redeemed = redeemed + 1, "
              "updated_at = %s WHERE program_id = %s AND reward_id = %s AND remaining > 0")
INSERT_REDEMPTION = (
    "INSERT INTO redemptions (program_id, member_id, account_id, reward_id, reward_type, "
    "reward_name, cost_points, program_version, idempotency_key, status, fulfilment, entry_id, "
    "took_stock, created_at, actor) VALUES (%s, %s, %s, %s, 'gift', %s, %s, 1, %s, 'active', "
    "'pending_fulfilment', %s, %s, %s, %s)")


class RawWriter:
    """One spend or redemption in one transaction, the statements a careful hand-written
    service runs."""

    placeholder = "%s"
    queue: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()

    def __init__(self, fixture: Fixture) -> None:
        self.fixture = fixture
        self.program_id = fixture.program.id

    def sql(self, statement: str) -> str:
        return statement.replace("%s", self.placeholder)

    def stamp(self, value: datetime) -> Any:
        return value

    def begin(self, conn: Any) -> None:
        """psycopg opens the transaction with the first statement."""

    def write(self, conn: Any, workload: str, member_id: int, key: str) -> None:
        account_id, now = self.fixture.accounts[member_id], self.stamp(datetime.now(UTC))
        with self.queue:
            cur = conn.cursor()
            self.begin(conn)
            try:
                entry_id = self.spend(cur, account_id, member_id, key, now)
                if workload == "redeem":
                    self.redeem(cur, account_id, member_id, key, now, entry_id)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def spend(self, cur: Any, account_id: int, member_id: int, key: str, now: Any) -> int:
        if cur.execute(self.sql(GUARDED_DEBIT), (COST, account_id, COST)).rowcount != 1:
            raise RuntimeError("insufficient points")
        lot_id, _ = cur.execute(self.sql(SOONEST_LOT), (account_id,)).fetchone()
        cur.execute(self.sql(UPDATE_LOT), (COST, COST, lot_id))
        entry_id = cur.execute(self.sql(INSERT_ENTRY), (
            self.program_id, account_id, member_id, -COST, now, now, f"spend:{key}",
            "bench spend", ACTOR, json.dumps({}))).fetchone()[0]
        cur.execute(self.sql(INSERT_MOVE), (entry_id, lot_id, -COST))
        return int(entry_id)

    def redeem(self, cur: Any, account_id: int, member_id: int, key: str, now: Any,
               entry_id: int) -> None:
        if cur.execute(self.sql(TAKE_STOCK), (now, self.program_id,
                                              REWARD["id"])).rowcount != 1:
            raise RuntimeError("out of stock")
        cur.execute(self.sql(INSERT_REDEMPTION), (
            self.program_id, member_id, account_id, REWARD["id"], REWARD["name"], COST,
            key, entry_id, True, now, ACTOR))


class PostgresRaw(RawWriter):
    """psycopg: ``%s`` placeholders, the transaction opened by the first statement."""


class SqliteRaw(RawWriter):
    placeholder = "?"

    def __init__(self, fixture: Fixture) -> None:
        super().__init__(fixture)
        self.queue = threading.RLock()

    def stamp(self, value: datetime) -> Any:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ",
                                                                      timespec="microseconds")

    def begin(self, conn: Any) -> None:
        conn.execute("BEGIN IMMEDIATE")


def raw_run(target: Target, fixture: Fixture, workload: str, *, clients: int, count: int,
            seconds: float) -> Rate:
    writer = target.raw_writer(fixture)
    members, run = fixture.members, uuid.uuid4().hex[:6]
    if workload == "redeem" and not fixture.runs:
        # The stock row Patron creates on the first redemption.
        with contextlib.closing(target.raw_connect()) as conn:
            writer.begin(conn)
            conn.cursor().execute(writer.sql(
                "INSERT INTO reward_stock (program_id, reward_id, stock, redeemed, remaining, "
                "updated_at) VALUES (%s, %s, %s, 0, %s, %s)"),
                (fixture.program.id, REWARD["id"], STOCK, STOCK,
                 writer.stamp(datetime.now(UTC))))
            conn.commit()

    def send(conn: Any, job: int) -> None:
        writer.write(conn, workload, members[job % len(members)], f"{run}-{job}")

    return run_clients(clients, count, seconds, send, target.raw_connect, lambda c: c.close())


# --------------------------------------------------------------------------- databases

@dataclass
class Target:
    name: str
    url: str
    raw_connect: Callable[[], Any]
    raw_writer: type[RawWriter]


@contextlib.contextmanager
def scratch_database(kind: str, pg_server: str) -> Iterator[Target]:
    """A new, empty database, removed afterwards."""
    with scratch(kind, pg_server) as db:
        yield Target(db.name, db.url, db.connect, SqliteRaw if kind == "sqlite" else PostgresRaw)


def check(db: Database, name: str, fixture: Fixture, workload: str) -> list[str]:
    """One spend entry and lot move per success (and for redemptions one redemption and
    unit of stock); balances exact."""
    pid, done = fixture.program.id, fixture.done

    def count(table: Any, *where: Any) -> Any:
        return select(func.count()).select_from(table).where(*where)

    def work(conn: Any) -> list[str]:
        found = {
            "spends": conn.execute(count(ledger_entries, ledger_entries.c.program_id == pid,
                                         ledger_entries.c.kind == "spend")).scalar(),
            "lot moves": conn.execute(
                count(lot_moves.join(ledger_entries), ledger_entries.c.program_id == pid,
                      ledger_entries.c.kind == "spend")).scalar(),
        }
        if workload == "redeem":
            found["redemptions"] = conn.execute(
                count(redemptions, redemptions.c.program_id == pid)).scalar()
            found["stock taken"] = STOCK - (conn.execute(select(reward_stock.c.remaining).where(
                reward_stock.c.program_id == pid)).scalar() or STOCK)
        problems = [f"{name}: {n} {what} for {done} requests"
                    for what, n in found.items() if n != done]
        available = conn.execute(select(func.sum(accounts.c.available))
                                 .where(accounts.c.program_id == pid)).scalar()
        posted = conn.execute(select(func.sum(ledger_entries.c.points))
                              .where(ledger_entries.c.program_id == pid,
                                     ledger_entries.c.status == "posted")).scalar()
        open_lots = conn.execute(select(func.sum(lots.c.remaining))
                                 .where(lots.c.program_id == pid, lots.c.state == "open")
                                 ).scalar()
        expected = len(fixture.members) * fixture.points - done * COST
        if not available == posted == open_lots == expected:
            problems.append(f"{name}: balances {available}/{posted}/{open_lots}, "
                            f"expected {expected}")
        return problems
    return db.read(work)


def bench_database(target: Target, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    db = create_database(target.url)
    upgrade(db)
    now = datetime.now(UTC)
    points = COST * (args.count * len(args.clients) // args.members + 2) * 2
    rows, problems = [], []
    err.print(f"[bold]{target.name}[/bold]: members and points")
    fixtures = {(workload, side): make_fixture(db, args.members, points, now)
                for workload in WORKLOADS for side in SIDES}
    warm = make_fixture(db, 20, COST * 100, now)
    if target.name == "postgresql":  # the loaded tables' statistics, as a running database
        # has them (autovacuum, or the import's own ANALYZE: ``Database.refresh_statistics``)
        db.transact(lambda conn: conn.exec_driver_sql(
            "ANALYZE members, identities, accounts, ledger_entries, lots"))
    workers = args.workers or (1 if target.name == "sqlite" else os.cpu_count() or 1)
    err.print(f"[bold]{target.name}[/bold]: Patron over HTTP, {workers} worker(s)")
    with patron_server(target.url, workers, start_seconds=300) as base:
        for workload in WORKLOADS:  # warm up both the server and this process
            http_run(base, warm, workload, clients=1, count=40, seconds=5)
            call_run(db, warm, workload, clients=1, count=40, seconds=5)
        for clients in args.clients:
            for workload in WORKLOADS:
                err.print(f"[bold]{target.name}[/bold]: {workload}, {clients} client(s), "
                          "raw, in process, HTTP")
                run = dict(clients=clients, count=args.count, seconds=args.seconds)
                rates = {
                    "raw": raw_run(target, fixtures[workload, "raw"], workload, **run),
                    "call": call_run(db, fixtures[workload, "call"], workload, **run),
                    "http": http_run(base, fixtures[workload, "http"], workload, **run),
                }
                for side, rate in rates.items():
                    fixture = fixtures[workload, side]
                    fixture.done += rate.done
                    fixture.runs.append(f"{clients}")
                    problems += check(db, f"{target.name} {workload} {clients} client(s) "
                                          f"{side}", fixture, workload)
                    if rate.errors:
                        problems.append(f"{target.name} {workload} {side}: "
                                        f"{rate.errors} failed")
                rows.append(Row(target.name, workload, clients, **rates, workers=workers))
    db.dispose()
    return rows, problems


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def render(rows: list[Row], args: argparse.Namespace) -> Table:
    table = Table(title="Patron spends and redemptions vs the same rows written straight "
                        "through the driver",
                  caption=f"one transaction per request; HTTP: uvicorn, "
                          f"{', '.join(sorted({f'{r.database} {r.workers} worker(s)' for r in rows}))}; "
                          f"{args.members} members per program, round-robin")
    for name in ("database", "workload", "clients", "HTTP req/s", "p50 ms", "p99 ms",
                 "in-process/s", "raw req/s", "raw p50", "raw p99", "HTTP/raw"):
        table.add_column(name, justify="left" if name in ("database", "workload") else "right")
    for row in rows:
        table.add_row(row.database, row.workload, str(row.clients),
                      f"{row.http.per_second:,.0f}", _ms(row.http.percentile(0.5)),
                      _ms(row.http.percentile(0.99)), f"{row.call.per_second:,.0f}",
                      f"{row.raw.per_second:,.0f}", _ms(row.raw.percentile(0.5)),
                      _ms(row.raw.percentile(0.99)), f"{row.ratio:.2f}")
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=pg_server_default(),
                        help="a PostgreSQL server to create the scratch database on")
    parser.add_argument("--members", type=int, default=1000, help="members per program")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16],
                        help="concurrent clients, one run each")
    parser.add_argument("--count", type=int, default=20_000,
                        help="at most this many requests per run")
    parser.add_argument("--seconds", type=float, default=8, help="and for at most this long")
    parser.add_argument("--workers", type=int, default=0,
                        help="server worker processes (patron serve --workers); 0: as the "
                             "README advises, one per core on PostgreSQL, 1 on SQLite")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def load_average() -> str:
    """The 1/5/15-minute load averages (Linux), or "" elsewhere."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = load_average()
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    rows: list[Row] = []
    problems: list[str] = []
    for kind in kinds:
        with scratch_database(kind, args.pg_url) as target:
            found, trouble = bench_database(target, args)
            rows += found
            problems += trouble
    if args.json:
        print(json.dumps({"settings": vars(args), "results": [
            {"database": r.database, "workload": r.workload, "clients": r.clients,
             "workers": r.workers, "http": r.http.summary("requests"), "in_process": r.call.summary("requests"),
             "raw": r.raw.summary("requests"), "ratio": round(r.ratio, 3)} for r in rows],
            "load_average": {"before": load_before, "after": load_average()},
            "problems": problems}, indent=2))
    else:
        console = Console(width=max(Console().width, 140))
        console.print(render(rows, args))
        console.print(f"load average before: {load_before}, after: {load_average()} "
                      f"({os.cpu_count()} CPUs)")
        for line in problems:
            console.print(f"[red]check failed[/red] {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
