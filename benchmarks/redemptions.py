"""Redemption throughput: Patron's ``redeem`` beside the same rows written through the driver.

For SQLite and PostgreSQL this measures reward redemptions per second with 1
and 4 concurrent clients, each redemption one transaction, three ways:

- Patron: ``patron.flows.redemption.redeem`` through ``Database.transact``,
  exactly what ``POST /members/{id}/redemptions`` runs (without HTTP): lock the
  member's account, check eligibility and the per-member limit, spend the points
  soonest-expiring lot first behind the guarded debit, take a unit of stock with
  a guarded update, record the redemption.
- the ledger's ``spend_points`` alone (same members, same points), for scale: the
  part of a redemption that is the points spend;
- raw: the same rows by hand, through the driver (sqlite3 / psycopg): the guarded
  debit of the account, the soonest-expiring open lot read and updated, the
  spend entry and its lot move, the guarded stock update and the redemption
  row. No eligibility, idempotency or household checks: the floor of what a
  redemption must write.

The reward is a gift with stock (so both sides take the stock row's lock), each
member holds enough points for every redemption of the run, and redemptions go
to members round-robin. SQLite writers of both sides queue on an in-process lock
(Patron's ``Database`` does; raw writers would otherwise sleep in SQLite's busy
handler). Every run ends by checking what each program holds: one redemption,
entry and lot move per success, the stock down by as many units, and every
balance equal to its entries and its lots. The machine's load average is printed: on a
shared 2-core box, other work slows Python-heavy paths far more than the driver.

    .venv/bin/python benchmarks/redemptions.py                 # both databases, ~3 min
    .venv/bin/python benchmarks/redemptions.py --db postgresql --seconds 20 --json
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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.ledger.service import credit_points, spend_points
from patron.ledger.tables import accounts, ledger_entries, lot_moves, lots
from patron.members.schemas import MemberCreate
from patron.flows import redemption
from patron.flows.enrolment import create_member
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program
from patron.rewards.tables import redemptions, reward_stock
from patron.program.document import ProgramDocument

from _common import Rate, err, pg_server_default
from _common import run_clients as timed_clients
from _common import scratch_database as scratch

ACTOR = "bench"
COST = 100
STOCK = 10**9
REWARD = {"id": "voucher", "name": "Gift voucher", "type": "gift", "cost_points": COST,
          "stock": STOCK}


# --------------------------------------------------------------------------- results

@dataclass
class Row:
    database: str
    clients: int
    patron: Rate
    spend: Rate
    raw: Rate

    @property
    def ratio(self) -> float:
        return self.patron.per_second / self.raw.per_second if self.raw.per_second else 0.0


def run_clients(clients: int, count: int, seconds: float, send: Callable[[Any, int], None],
                open_client: Callable[[], Any], close_client: Callable[[Any], None]) -> Rate:
    """Concurrent clients; a ``send`` that raises is a failed redemption."""
    return timed_clients(clients, count, seconds, send, open_client, close_client)


# --------------------------------------------------------------------------- fixture

@dataclass
class Fixture:
    program: Program
    members: list[int]
    accounts: dict[int, int]  # member id -> account id


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
    return Fixture(program, ids, found)


# --------------------------------------------------------------------------- the two sides

def patron_run(db: Database, fixture: Fixture, *, clients: int, count: int,
               seconds: float) -> Rate:
    members = fixture.members
    run = uuid.uuid4().hex[:6]

    def send(_: Any, job: int) -> None:
        member_id = members[job % len(members)]
        db.transact(lambda conn: redemption.redeem(
            conn, fixture.program, member_id, reward_id=REWARD["id"], key=f"{run}-{job}",
            actor=ACTOR, now=datetime.now(UTC)))

    return run_clients(clients, count, seconds, send, lambda: None, lambda _: None)


def spend_run(db: Database, fixture: Fixture, *, clients: int, count: int,
              seconds: float) -> Rate:
    members = fixture.members
    run = uuid.uuid4().hex[:6]

    def send(_: Any, job: int) -> None:
        member_id = members[job % len(members)]
        db.transact(lambda conn: spend_points(
            conn, fixture.program, member_id, points=COST, reason="bench spend",
            key=f"{run}-{job}", actor=ACTOR, now=datetime.now(UTC)))

    return run_clients(clients, count, seconds, send, lambda: None, lambda _: None)


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
    """One redemption in one transaction, the statements a careful hand-written service runs."""

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

    def redeem(self, conn: Any, member_id: int, key: str) -> None:
        account_id, now = self.fixture.accounts[member_id], self.stamp(datetime.now(UTC))
        with self.queue:
            cur = conn.cursor()
            self.begin(conn)
            try:
                if cur.execute(self.sql(GUARDED_DEBIT), (COST, account_id, COST)).rowcount != 1:
                    raise RuntimeError("insufficient points")
                lot_id, _ = cur.execute(self.sql(SOONEST_LOT), (account_id,)).fetchone()
                cur.execute(self.sql(UPDATE_LOT), (COST, COST, lot_id))
                entry_id = cur.execute(self.sql(INSERT_ENTRY), (
                    self.program_id, account_id, member_id, -COST, now, now, f"redeem:{key}",
                    f"Redeemed: {REWARD['name']}", ACTOR, json.dumps({}))).fetchone()[0]
                cur.execute(self.sql(INSERT_MOVE), (entry_id, lot_id, -COST))
                if cur.execute(self.sql(TAKE_STOCK), (now, self.program_id,
                                                      REWARD["id"])).rowcount != 1:
                    raise RuntimeError("out of stock")
                cur.execute(self.sql(INSERT_REDEMPTION), (
                    self.program_id, member_id, account_id, REWARD["id"], REWARD["name"], COST,
                    key, entry_id, True, now, ACTOR))
            except BaseException:
                conn.rollback()
                raise
            conn.commit()


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


def raw_run(target: Target, fixture: Fixture, *, clients: int, count: int,
            seconds: float) -> Rate:
    writer = target.raw_writer(fixture)
    members = fixture.members
    run = uuid.uuid4().hex[:6]
    # The stock row Patron creates on the first redemption.
    with contextlib.closing(target.raw_connect()) as conn:
        writer.begin(conn)
        conn.cursor().execute(writer.sql(
            "INSERT INTO reward_stock (program_id, reward_id, stock, redeemed, remaining, "
            "updated_at) VALUES (%s, %s, %s, 0, %s, %s)"),
            (fixture.program.id, REWARD["id"], STOCK, STOCK, writer.stamp(datetime.now(UTC))))
        conn.commit()

    def send(conn: Any, job: int) -> None:
        writer.redeem(conn, members[job % len(members)], f"{run}-{job}")

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


def check(db: Database, name: str, fixture: Fixture, rate: Rate, points: int, *,
          redeemed: bool = True) -> list[str]:
    """One redemption (when ``redeemed``), spend entry and lot move per success; stock and
    balances exact."""
    pid, done = fixture.program.id, rate.done

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
        if redeemed:
            found["redemptions"] = conn.execute(
                count(redemptions, redemptions.c.program_id == pid)).scalar()
            found["stock taken"] = STOCK - conn.execute(select(reward_stock.c.remaining).where(
                reward_stock.c.program_id == pid)).scalar()
        problems = [f"{name}: {n} {what} for {done} redemptions"
                    for what, n in found.items() if n != done]
        available = conn.execute(select(func.sum(accounts.c.available))
                                 .where(accounts.c.program_id == pid)).scalar()
        posted = conn.execute(select(func.sum(ledger_entries.c.points))
                              .where(ledger_entries.c.program_id == pid,
                                     ledger_entries.c.status == "posted")).scalar()
        open_lots = conn.execute(select(func.sum(lots.c.remaining))
                                 .where(lots.c.program_id == pid, lots.c.state == "open")
                                 ).scalar()
        expected = len(fixture.members) * points - done * COST
        if not available == posted == open_lots == expected:
            problems.append(f"{name}: balances {available}/{posted}/{open_lots}, "
                            f"expected {expected}")
        return problems
    return db.read(work)


def bench_database(target: Target, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    db = create_database(target.url)
    upgrade(db)
    now = datetime.now(UTC)
    points = COST * (args.count // args.members + 2) * 2
    rows, problems = [], []
    err.print(f"[bold]{target.name}[/bold]: members and points")
    warm = make_fixture(db, 50, points, now)
    patron_run(db, warm, clients=1, count=200, seconds=5)
    for clients in args.clients:
        fixtures = {side: make_fixture(db, args.members, points, now)
                    for side in ("patron", "spend", "raw")}
        err.print(f"[bold]{target.name}[/bold]: {clients} client(s), raw, spend, Patron")
        run = dict(clients=clients, count=args.count, seconds=args.seconds)
        raw = raw_run(target, fixtures["raw"], **run)
        spend = spend_run(db, fixtures["spend"], **run)
        patron = patron_run(db, fixtures["patron"], **run)
        for side, rate in (("patron", patron), ("spend", spend), ("raw", raw)):
            problems += check(db, f"{target.name} {clients} client(s) {side}", fixtures[side],
                              rate, points, redeemed=side != "spend")
            if rate.errors:
                problems.append(f"{target.name} {side}: {rate.errors} failed")
        rows.append(Row(target.name, clients, patron, spend, raw))
    db.dispose()
    return rows, problems


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def render(rows: list[Row], args: argparse.Namespace) -> Table:
    table = Table(title="Patron redemptions vs the same rows written straight through the "
                        "driver", caption=f"one transaction per redemption; a gift with stock; "
                        f"{args.members} members per program, round-robin")
    for name in ("database", "clients", "Patron red/s", "p50 ms", "p99 ms", "spend_points/s",
                 "raw red/s", "raw p50", "raw p99", "Patron/raw"):
        table.add_column(name, justify="left" if name == "database" else "right")
    for row in rows:
        table.add_row(row.database, str(row.clients), f"{row.patron.per_second:,.0f}",
                      _ms(row.patron.percentile(0.5)), _ms(row.patron.percentile(0.99)),
                      f"{row.spend.per_second:,.0f}",
                      f"{row.raw.per_second:,.0f}", _ms(row.raw.percentile(0.5)),
                      _ms(row.raw.percentile(0.99)), f"{row.ratio:.2f}")
    return table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=pg_server_default(),
                        help="a PostgreSQL server to create the scratch database on")
    parser.add_argument("--members", type=int, default=1000, help="members per program")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4],
                        help="concurrent clients, one run each")
    parser.add_argument("--count", type=int, default=20_000,
                        help="at most this many redemptions per run")
    parser.add_argument("--seconds", type=float, default=8, help="and for at most this long")
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
            {"database": r.database, "clients": r.clients, "patron": r.patron.summary("redemptions"),
             "spend_points": r.spend.summary("redemptions"),
             "raw": r.raw.summary("redemptions"),
             "ratio": round(r.ratio, 3)} for r in rows],
            "load_average": {"before": load_before, "after": load_average()},
            "problems": problems}, indent=2))
    else:
        console = Console(width=max(Console().width, 132))
        console.print(render(rows, args))
        console.print(f"load average before: {load_before}, after: {load_average()} "
                      f"({os.cpu_count()} CPUs)")
        for line in problems:
            console.print(f"[red]check failed[/red] {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
