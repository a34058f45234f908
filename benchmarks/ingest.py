"""Ingest throughput: Patron beside the same rows written straight through the driver.

For SQLite and PostgreSQL this measures

- single-event ingest over HTTP (Patron served as the README says, ``patron serve
  --workers N``) at 1, 4 and 16 concurrent clients, beside a raw baseline that writes
  the same rows in one transaction per event with as many concurrent connections;
- batch ingest over HTTP (1,000 events per request) and the in-process
  ``ingest()`` call, beside a raw baseline that writes the same rows in one
  transaction per batch (executemany on sqlite3, COPY on psycopg).

"The same rows" are what Patron writes for a purchase under the default program
settings: the event (with its stored outcome), the order and its lines, a
pending earn entry, its lot, and the account's pending and lifetime totals.
Patron's programs run the 20 rules of ``tests/program/benchmark.py`` (CEL
conditions, per-member limits, budgets) with a tier ladder unless ``--program one`` asks for the
1-rule default; under 20 rules a purchase writes more than the raw baseline does
(an entry and lot per rule that gives, awards, limit counters). Every run ends by
counting what each program holds, so the comparison is checked, not assumed.

On Linux each single-event row also gives the CPU milliseconds one event cost the server
(all its workers), PostgreSQL's processes (SQLite runs inside the server) and the clients:
where they share the machine's cores, a rate is bounded by their sum.

    .venv/bin/python benchmarks/ingest.py                 # both databases, ~4-5 min
    .venv/bin/python benchmarks/ingest.py --db postgresql --clients 4 --batches 0 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import itertools
import json
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from patron.auth.service import Role, create_key
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.events.tables import events, order_lines, orders
from patron.ledger.tables import accounts, ledger_entries, lots
from patron.flows import enrolment
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program
from patron.program.document import ProgramDocument

from _common import (SERVERS, CpuAccount, Rate, err, now_utc, patron_server,
                     pg_server_default, run_clients)
from _common import scratch_database as scratch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from tests.program.benchmark import RULES  # noqa: E402

from patron.program.validate import format_problems, validate_document  # noqa: E402

TIERS = {"metric": "qualifying_spend", "window": {"type": "rolling_months", "months": 12},
         "levels": [{"id": "member", "name": "Member", "threshold": 0},
                    {"id": "silver", "name": "Silver", "threshold": 2_000},
                    {"id": "gold", "name": "Gold", "threshold": 6_000,
                     "benefits": {"earn_multiplier": "2"}}]}
"""Low thresholds, so members move up during a run as a busy program's do."""


def twenty_rule_program() -> ProgramDocument:
    """The 20 rules of ``tests/program/benchmark.py`` (CEL conditions, per-member limits,
    budgets) with a three-level tier ladder."""
    document, problems = validate_document({
        "name": "Benchmark", "settings": {"currency": "USD", "timezone": "America/New_York"},
        "earn_rules": RULES, "tiers": TIERS})
    assert document is not None, format_problems(problems)
    return document

MENU = (("ESP-1", "drinks", 320), ("LAT-1", "drinks", 450), ("CRO-1", "food", 380),
        ("SAN-1", "food", 790), ("BNS-ETH", "beans", 1650), ("MUG-1", "merch", 1800))
CHANNELS = ("web", "pos", "app")
SETTINGS = ProgramSettings()  # USD, 1 point per dollar, 14 pending days, expiry after 365
ACTOR = "bench"


# --------------------------------------------------------------------------- results

@dataclass
class Row:
    database: str
    workload: str
    patron: Rate
    raw: Rate
    cpu: dict[str, float] | None = None
    """CPU ms per event of the server, the database's processes and the clients."""

    @property
    def ratio(self) -> float:
        return self.patron.per_second / self.raw.per_second if self.raw.per_second else 0.0


# --------------------------------------------------------------------------- workload

@dataclass
class Fixture:
    """A program with members, ready to receive events."""

    program: Program
    key: str
    accounts: dict[int, int]  # member id -> account id
    emails: dict[int, str]


def make_fixture(db: Database, members: int, now: datetime,
                 document: ProgramDocument | None = None) -> Fixture:
    """``document`` is the program's version 1; by default one rule, 1 point per dollar."""
    slug = f"bench-{uuid.uuid4().hex[:10]}"

    def work(conn: Any) -> Fixture:
        program = create_program(conn, slug=slug, name="Benchmark", settings=SETTINGS, now=now,
                                 document=document)
        key = create_key(conn, program_id=program.id, role=Role.ADMIN, name="bench", now=now)
        emails = [f"member-{n}@bench.example.com" for n in range(members)]
        ids = enrolment.enrol(conn, program, now, [{} for _ in emails],
                                  [[("email", email, "web")] for email in emails])
        rows = conn.execute(select(accounts.c.member_id, accounts.c.id)
                            .where(accounts.c.program_id == program.id))
        return Fixture(program, key.key, dict(rows.all()), dict(zip(ids, emails)))
    fixture = db.transact(work)
    # the loaded tables' statistics, as autovacuum leaves them within a minute of a load:
    # on a fresh table PostgreSQL cannot tell the program's members from one member, and
    # may look one up by id through the match keys' index, reading all of them (the tables
    # an event writes are left alone: analysed empty, they would be read as empty)
    if db.engine.dialect.name == "postgresql":
        db.transact(lambda conn: conn.exec_driver_sql("ANALYZE members, identities, accounts"))
    return fixture


class Purchases:
    """Unique purchase events (ids and order numbers never repeat within a run)."""

    def __init__(self, fixture: Fixture, member_ref: str, seed: int) -> None:
        self.fixture = fixture
        self.member_ref = member_ref
        self.rng = random.Random(seed)
        self.members = sorted(fixture.accounts)
        self.counter = itertools.count(1)
        self.prefix = uuid.uuid4().hex[:8]

    def one(self, now: datetime) -> dict[str, Any]:
        rng, n = self.rng, next(self.counter)
        member = rng.choice(self.members)
        ref = ({"id": member} if self.member_ref == "id" else
               {"identity": {"type": "email", "value": self.fixture.emails[member]}})
        lines = [{"sku": sku, "category": category, "quantity": 1, "amount": price}
                 for sku, category, price in rng.choices(MENU, k=rng.choice((1, 2, 2, 3)))]
        occurred = now - timedelta(seconds=rng.uniform(0, 7 * 86400))
        return {"id": f"{self.prefix}-e{n}", "type": "purchase", "member": ref,
                "occurred_at": occurred.isoformat(), "channel": rng.choice(CHANNELS),
                "data": {"order_id": f"{self.prefix}-o{n}", "currency": "USD",
                         "total": sum(line["amount"] for line in lines), "lines": lines}}

    def many(self, count: int, now: datetime) -> list[dict[str, Any]]:
        return [self.one(now) for _ in range(count)]


# --------------------------------------------------------------------------- Patron over HTTP

def http_single(base: str, fixture: Fixture, purchases: Purchases, *, clients: int,
                count: int, seconds: float, account: CpuAccount | None = None) -> Rate:
    """``account``: the CPU the requests cost, counted while the clients send."""
    now = now_utc()
    bodies = [json.dumps(e).encode() for e in purchases.many(count, now)]
    headers = {"Authorization": f"Bearer {fixture.key}", "Content-Type": "application/json"}

    def send(client: httpx.Client, job: int) -> bool:
        return client.post("/api/v1/events", content=bodies[job]).status_code == 201

    account = account or CpuAccount(None)
    account.start()
    rate = run_clients(clients, count, seconds, send,
                       lambda: httpx.Client(base_url=base, headers=headers, timeout=60),
                       lambda client: client.close())
    account.stop()
    return rate


def http_batches(base: str, fixture: Fixture, purchases: Purchases, *, batches: int,
                 size: int, clients: int) -> Rate:
    now = now_utc()
    bodies = [json.dumps({"events": purchases.many(size, now)}).encode() for _ in range(batches)]
    headers = {"Authorization": f"Bearer {fixture.key}", "Content-Type": "application/json"}

    def send(client: httpx.Client, job: int) -> bool:
        response = client.post("/api/v1/events/batch", content=bodies[job])
        return response.status_code == 200 and response.json()["processed"] == size

    rate = (run_clients(clients, batches, 3600, send,
                               lambda: httpx.Client(base_url=base, headers=headers, timeout=120),
                               lambda client: client.close()))
    rate.done *= size
    return rate


def in_process_batches(db: Database, fixture: Fixture, purchases: Purchases, *,
                       batches: int, size: int) -> Rate:
    """``ingest()`` called directly: no HTTP, no JSON; events validated beforehand."""
    now = now_utc()
    work = [[EventIn.model_validate(e) for e in purchases.many(size, now)]
            for _ in range(batches)]
    latencies, errors = [], 0
    start = time.perf_counter()
    for chunk in work:
        began = time.perf_counter()
        outcomes = db.transact(lambda conn: ingest(conn, fixture.program, chunk, now=now_utc(),
                                                   actor=ACTOR))
        errors += sum(1 for o in outcomes if o.status != "processed")
        latencies.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - start
    return Rate(batches * size - errors, elapsed, latencies, errors)


# --------------------------------------------------------------------------- raw baseline

@dataclass
class RawPurchase:
    """One purchase as a hand-written integration would write it: every value ready."""

    external_id: str
    member_id: int
    account_id: int
    channel: str
    occurred_at: datetime
    data: dict[str, Any]
    points: int
    reason: str
    available_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, event: dict[str, Any], accounts_by_member: dict[int, int]) -> "RawPurchase":
        data = event["data"]
        occurred = datetime.fromisoformat(event["occurred_at"])
        points = data["total"] // 100  # 1 point per whole dollar, rounded down
        available = occurred + timedelta(days=SETTINGS.pending_days)
        member = event["member"]["id"]
        return cls(event["id"], member, accounts_by_member[member], event["channel"], occurred,
                   data, points, f"1 points per USD 1 on order {data['order_id']}: +{points}",
                   available, available + timedelta(days=SETTINGS.expiry.days))

    def outcome(self) -> dict[str, Any]:
        return {"id": self.external_id, "type": "purchase", "member_id": self.member_id,
                "enrolled": False, "points": self.points, "error": None,
                "awards": [{"member_id": self.member_id, "kind": "earn", "points": self.points,
                            "status": "pending", "available_at": self.available_at.isoformat(),
                            "expires_at": self.expires_at.isoformat(), "reason": self.reason}]}


INSERT_EVENT = ("INSERT INTO events (program_id, external_id, type, member_id, channel,"
                " occurred_at, received_at, data, outcome)"
                " VALUES (%s, %s, 'purchase', %s, %s, %s, %s, %s, %s) RETURNING id")
INSERT_ORDER = ("INSERT INTO orders (program_id, order_id, member_id, event_id, channel, currency,"
                " total, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")
INSERT_LINE = ("INSERT INTO order_lines (order_pk, line_no, sku, category, quantity, amount)"
               " VALUES (%s, %s, %s, %s, %s, %s)")
INSERT_ENTRY = ("INSERT INTO ledger_entries (program_id, account_id, member_id, kind, points,"
                " status, occurred_at, recorded_at, available_at, event_id, idempotency_key,"
                " order_id, reason, actor, details) VALUES (%s, %s, %s, 'earn', %s, 'pending',"
                " %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")
INSERT_LOT = ("INSERT INTO lots (program_id, account_id, entry_id, points, remaining, state,"
              " earned_at, available_at, expires_at)"
              " VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s, %s)")
UPDATE_ACCOUNT = ("UPDATE accounts SET pending = pending + %s,"
                  " lifetime_earned = lifetime_earned + %s WHERE id = %s")
DETAILS = {"rule": "flat_rate"}


class RawWriter:
    """The same rows Patron writes, through the DB-API driver with hand-written SQL.

    ``stamp`` turns a datetime into what the driver stores (SQLite keeps naive UTC
    text, as SQLAlchemy does). JSON goes as text, which both databases parse.
    """

    placeholder = "%s"

    def __init__(self, program_id: int) -> None:
        self.program_id = program_id

    def sql(self, statement: str) -> str:
        return statement.replace("%s", self.placeholder)

    def stamp(self, value: datetime) -> Any:
        return value

    def doc(self, value: Any) -> str:
        return json.dumps(value)

    def rows(self, p: RawPurchase, now: datetime) -> tuple[tuple, tuple, tuple]:
        data, stamp = p.data, self.stamp
        event = (self.program_id, p.external_id, p.member_id, p.channel, stamp(p.occurred_at),
                 stamp(now), self.doc(data), self.doc(p.outcome()))
        order = (self.program_id, data["order_id"], p.member_id, None, p.channel,
                 data["currency"], data["total"], stamp(p.occurred_at))
        entry = (self.program_id, p.account_id, p.member_id, p.points, stamp(p.occurred_at),
                 stamp(now), stamp(p.available_at), None, f"event:{p.external_id}",
                 data["order_id"], p.reason, ACTOR, self.doc(DETAILS))
        return event, order, entry

    def write_one(self, conn: Any, p: RawPurchase, now: datetime) -> None:
        """One purchase, one transaction: the statements a careful hand-written service runs."""
        event, order, entry = self.rows(p, now)
        cur = conn.cursor()
        self.begin(conn)
        event_id = cur.execute(self.sql(INSERT_EVENT), event).fetchone()[0]
        order_id = cur.execute(self.sql(INSERT_ORDER), order[:3] + (event_id,) + order[4:]
                               ).fetchone()[0]
        cur.executemany(self.sql(INSERT_LINE), [
            (order_id, n, line["sku"], line["category"], line["quantity"], line["amount"])
            for n, line in enumerate(p.data["lines"])])
        entry_id = cur.execute(self.sql(INSERT_ENTRY), entry[:7] + (event_id,) + entry[8:]
                               ).fetchone()[0]
        cur.execute(self.sql(INSERT_LOT), (self.program_id, p.account_id, entry_id, p.points,
                                           p.points, entry[4], entry[6],
                                           self.stamp(p.expires_at)))
        cur.execute(self.sql(UPDATE_ACCOUNT), (p.points, p.points, p.account_id))
        conn.commit()

    def begin(self, conn: Any) -> None:
        """psycopg opens the transaction with the first statement."""


class SqliteRaw(RawWriter):
    placeholder = "?"

    def stamp(self, value: datetime) -> Any:
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(
            sep=" ", timespec="microseconds")

    def begin(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")

    def write_batch(self, conn: sqlite3.Connection, batch: list[RawPurchase],
                    now: datetime) -> None:
        """One transaction; ids taken from the table's end under the write lock."""
        self.begin(conn)
        first = {table: conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]
                 for table in ("events", "orders", "ledger_entries")}
        events_, orders_, lines_, entries_, lots_ = [], [], [], [], []
        for n, p in enumerate(batch):
            event, order, entry = self.rows(p, now)
            event_id, order_id, entry_id = (first["events"] + n, first["orders"] + n,
                                            first["ledger_entries"] + n)
            events_.append((event_id, *event))
            orders_.append((order_id, *order[:3], event_id, *order[4:]))
            lines_.extend((order_id, i, line["sku"], line["category"], line["quantity"],
                           line["amount"]) for i, line in enumerate(p.data["lines"]))
            entries_.append((entry_id, *entry[:7], event_id, *entry[8:]))
            lots_.append((self.program_id, p.account_id, entry_id, p.points, p.points, entry[4],
                          entry[6], self.stamp(p.expires_at)))
        conn.executemany(self.sql(with_id(INSERT_EVENT)), events_)
        conn.executemany(self.sql(with_id(INSERT_ORDER)), orders_)
        conn.executemany(self.sql(INSERT_LINE), lines_)
        conn.executemany(self.sql(with_id(INSERT_ENTRY)), entries_)
        conn.executemany(self.sql(INSERT_LOT), lots_)
        conn.executemany(self.sql(UPDATE_ACCOUNT), [(d, d, a) for a, d in account_deltas(batch)])
        conn.commit()


def with_id(statement: str) -> str:
    """An INSERT above, taking the row's id as its first value instead of returning it."""
    return (statement.replace("(program_id", "(id, program_id", 1)
            .replace("VALUES (", "VALUES (%s, ", 1).removesuffix(" RETURNING id"))


def account_deltas(batch: list[RawPurchase]) -> list[tuple[int, int]]:
    """Points per account, in account order (so concurrent batches never deadlock)."""
    totals: dict[int, int] = {}
    for p in batch:
        totals[p.account_id] = totals.get(p.account_id, 0) + p.points
    return sorted(totals.items())


class PostgresRaw(RawWriter):
    def write_batch(self, conn: psycopg.Connection, batch: list[RawPurchase],
                    now: datetime) -> None:
        """One transaction: ids drawn from the sequences, then COPY into every table."""
        n = len(batch)
        with conn.transaction(), conn.cursor() as cur:
            event_ids, order_ids, entry_ids = cur.execute(
                "SELECT array(SELECT nextval('events_id_seq') FROM generate_series(1, %(n)s)),"
                " array(SELECT nextval('orders_id_seq') FROM generate_series(1, %(n)s)),"
                " array(SELECT nextval('ledger_entries_id_seq') FROM generate_series(1, %(n)s))",
                {"n": n}).fetchone()
            rows = [self.rows(p, now) for p in batch]
            with cur.copy("COPY events (id, program_id, external_id, type, member_id, channel,"
                          " occurred_at, received_at, data, outcome) FROM STDIN") as copy:
                for event_id, (event, _, _) in zip(event_ids, rows):
                    copy.write_row((event_id, *event[:2], "purchase", *event[2:]))
            with cur.copy("COPY orders (id, program_id, order_id, member_id, event_id, channel,"
                          " currency, total, occurred_at) FROM STDIN") as copy:
                for order_id, event_id, (_, order, _) in zip(order_ids, event_ids, rows):
                    copy.write_row((order_id, *order[:3], event_id, *order[4:]))
            with cur.copy("COPY order_lines (order_pk, line_no, sku, category, quantity, amount)"
                          " FROM STDIN") as copy:
                for order_id, p in zip(order_ids, batch):
                    for i, line in enumerate(p.data["lines"]):
                        copy.write_row((order_id, i, line["sku"], line["category"],
                                        line["quantity"], line["amount"]))
            with cur.copy("COPY ledger_entries (id, program_id, account_id, member_id, kind,"
                          " points, status, occurred_at, recorded_at, available_at, event_id,"
                          " idempotency_key, order_id, reason, actor, details)"
                          " FROM STDIN") as copy:
                for entry_id, event_id, (_, _, entry) in zip(entry_ids, event_ids, rows):
                    copy.write_row((entry_id, *entry[:3], "earn", entry[3], "pending",
                                    *entry[4:7], event_id, *entry[8:]))
            with cur.copy("COPY lots (program_id, account_id, entry_id, points, remaining, state,"
                          " earned_at, available_at, expires_at) FROM STDIN") as copy:
                for entry_id, p in zip(entry_ids, batch):
                    copy.write_row((self.program_id, p.account_id, entry_id, p.points, p.points,
                                    "pending", p.occurred_at, p.available_at, p.expires_at))
            deltas = account_deltas(batch)
            cur.execute("UPDATE accounts a SET pending = a.pending + d.points,"
                        " lifetime_earned = a.lifetime_earned + d.points"
                        " FROM unnest(%s::bigint[], %s::bigint[]) AS d(id, points)"
                        " WHERE a.id = d.id", ([a for a, _ in deltas], [d for _, d in deltas]))


def raw_single(target: "Target", fixture: Fixture, purchases: Purchases, *, clients: int,
               count: int, seconds: float) -> Rate:
    planned = purchases.many(count, now_utc())
    writer = target.raw_writer(fixture.program.id)

    def send(conn: Any, job: int) -> bool:
        writer.write_one(conn, RawPurchase.of(planned[job], fixture.accounts), now_utc())
        return True

    return (run_clients(clients, count, seconds, send, target.raw_connect,
                               lambda conn: conn.close()))


def raw_batches(target: "Target", fixture: Fixture, purchases: Purchases, *, batches: int,
                size: int) -> Rate:
    planned = [purchases.many(size, now_utc()) for _ in range(batches)]
    writer = target.raw_writer(fixture.program.id)
    conn = target.raw_connect()
    latencies = []
    start = time.perf_counter()
    try:
        for batch in planned:
            began = time.perf_counter()
            writer.write_batch(conn, [RawPurchase.of(e, fixture.accounts) for e in batch],
                               now_utc())
            latencies.append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    return Rate(batches * size, time.perf_counter() - start, latencies)


# --------------------------------------------------------------------------- databases

@dataclass
class Target:
    """One database to measure: Patron's URL and the raw driver's way in."""

    name: str
    url: str
    raw_connect: Callable[[], Any]
    raw_writer: type[SqliteRaw] | type[PostgresRaw]


@contextlib.contextmanager
def scratch_database(kind: str, pg_server: str) -> Iterator[Target]:
    """A new, empty database, removed afterwards."""
    with scratch(kind, pg_server) as db:
        yield Target(db.name, db.url, db.connect, SqliteRaw if kind == "sqlite" else PostgresRaw)


def written(db: Database, program_id: int) -> dict[str, int]:
    """What a program's tables hold, to check both sides wrote the same kind of rows."""
    def count(table: Any) -> Any:
        return select(func.count()).select_from(table).where(table.c.program_id == program_id)

    def work(conn: Any) -> dict[str, int]:
        lines = (select(func.count()).select_from(order_lines.join(orders))
                 .where(orders.c.program_id == program_id))
        totals = conn.execute(select(func.coalesce(func.sum(accounts.c.pending), 0),
                                     func.coalesce(func.sum(accounts.c.lifetime_earned), 0))
                              .where(accounts.c.program_id == program_id)).one()
        lot_points = conn.execute(select(func.coalesce(func.sum(lots.c.points), 0))
                                  .where(lots.c.program_id == program_id)).scalar()
        return {"events": conn.execute(count(events)).scalar(),
                "orders": conn.execute(count(orders)).scalar(),
                "order_lines": conn.execute(lines).scalar(),
                "ledger_entries": conn.execute(count(ledger_entries)).scalar(),
                "lots": conn.execute(count(lots)).scalar(), "lot_points": int(lot_points),
                "pending": int(totals[0]), "lifetime_earned": int(totals[1])}
    return db.read(work)


def check(name: str, rows: dict[str, int], expected_events: int) -> list[str]:
    """Every event left an order, an entry and a lot, and the balances add up."""
    problems = []
    for table in ("events", "orders", "ledger_entries", "lots"):
        if rows[table] != expected_events:
            problems.append(f"{name}: {rows[table]} {table} for {expected_events} events")
    if not rows["lot_points"] == rows["pending"] == rows["lifetime_earned"]:
        problems.append(f"{name}: balances {rows} do not match the lots")
    return problems


def check_rules(name: str, rows: dict[str, int], expected_events: int) -> list[str]:
    """Under the 20-rule program: every event left its order; rules may each leave an
    entry and a lot (or none), and the lots hold what the accounts earned."""
    problems = [f"{name}: {rows[table]} {table} for {expected_events} events"
                for table in ("events", "orders") if rows[table] != expected_events]
    if rows["lots"] != rows["ledger_entries"]:
        problems.append(f"{name}: {rows['ledger_entries']} entries, {rows['lots']} lots")
    if rows["lot_points"] != rows["lifetime_earned"]:
        problems.append(f"{name}: lots hold {rows['lot_points']}, accounts earned "
                        f"{rows['lifetime_earned']}")
    return problems


# --------------------------------------------------------------------------- the run

def bench_database(target: Target, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    db = create_database(target.url)
    upgrade(db)
    now = now_utc()
    document = twenty_rule_program() if args.program == "twenty" else None
    fixtures: dict[str, Fixture] = {}
    streams: dict[str, Purchases] = {}

    def prepare(phase: str) -> tuple[Fixture, Purchases]:
        raw = phase.startswith("raw")
        fixtures[phase] = make_fixture(db, args.members, now, None if raw else document)
        streams[phase] = Purchases(fixtures[phase], "id" if raw else args.member_ref, args.seed)
        return fixtures[phase], streams[phase]

    rows: list[Row] = []
    done: dict[str, int] = {}
    batch = dict(batches=args.batches, size=args.batch_size)
    raw_one: dict[int, Rate] = {}
    for clients in args.clients:
        err.print(f"[bold]{target.name}[/bold]: raw single-event baseline, {clients} clients")
        raw_one[clients] = raw_single(target, *prepare(f"raw-single-{clients}"),
                                      clients=clients, count=args.single_events,
                                      seconds=args.single_seconds)
        done[f"raw-single-{clients}"] = raw_one[clients].done
    workers = args.workers or (1 if target.name == "sqlite" else os.cpu_count() or 1)
    with patron_server(target.url, workers) as base:
        err.print(f"[bold]{target.name}[/bold]: Patron over HTTP, {workers} worker(s)")
        http_single(base, *prepare("warm-up"), clients=max(args.clients), count=400,
                    seconds=10)
        for clients in args.clients:
            phase = f"single-{clients}"
            account = CpuAccount(SERVERS.get(base))
            rate = http_single(base, *prepare(phase), clients=clients,
                               count=args.single_events, seconds=args.single_seconds,
                               account=account)
            done[phase] = rate.done
            rows.append(Row(target.name, f"single event, HTTP, {clients} clients", rate,
                            raw_one[clients], account.per_event(rate.done)))
        if args.batches:
            patron_http = http_batches(base, *prepare("batch"), clients=args.batch_clients,
                                       **batch)
            done["batch"] = patron_http.done
    if args.batches:
        err.print(f"[bold]{target.name}[/bold]: raw batch baseline, then in-process ingest()")
        raw_many = raw_batches(target, *prepare("raw-batch"), **batch)
        patron_call = in_process_batches(db, *prepare("in-process"), **batch)
        done.update({"raw-batch": raw_many.done, "in-process": patron_call.done})
        size = args.batch_size
        rows += [Row(target.name, f"batch of {size}, HTTP", patron_http, raw_many),
                 Row(target.name, f"batch of {size}, in-process ingest()", patron_call,
                     raw_many)]
    problems = []
    for phase, count in done.items():
        verify = check if phase.startswith("raw") or document is None else check_rules
        problems += verify(f"{target.name} {phase}", written(db, fixtures[phase].program.id),
                           count)
    db.dispose()
    return rows, problems


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def render(rows: list[Row], args: argparse.Namespace) -> Table:
    table = Table(title="Patron ingest vs the same rows written straight through the driver",
                  caption=f"latency per request (per batch for batches); in-process events are "
                          f"validated beforehand; {args.members} members per program, named by "
                          f"{args.member_ref}; Patron: {args.program} rule program, "
                          f"{args.workers or 'auto'} worker(s)")
    for name in ("database", "workload", "Patron ev/s", "p50 ms", "p99 ms", "raw ev/s",
                 "raw p50", "raw p99", "Patron/raw", "CPU ms/ev server / db / clients"):
        table.add_column(name, justify="left" if name in ("database", "workload") else "right")
    for row in rows:
        cpu = " / ".join(f"{row.cpu[part]:.1f}" for part in ("server", "database", "clients")
                         ) if row.cpu else ""
        table.add_row(row.database, row.workload, f"{row.patron.per_second:,.0f}",
                      _ms(row.patron.percentile(0.5)), _ms(row.patron.percentile(0.99)),
                      f"{row.raw.per_second:,.0f}", _ms(row.raw.percentile(0.5)),
                      _ms(row.raw.percentile(0.99)), f"{row.ratio:.2f}", cpu)
    return table


def aims(rows: list[Row]) -> list[str]:
    verdicts = []
    for row in rows:
        if row.workload.startswith("single"):
            p99 = row.patron.percentile(0.99) or 0.0
            met = row.ratio >= 0.5 and p99 < 20
            verdicts.append(f"{row.database}: {row.workload} at {row.ratio:.2f} of the raw "
                            f"rate, p99 {p99:.1f} ms (aim 0.50 and < 20 ms): "
                            f"{'met' if met else 'NOT met'}")
        if row.database == "postgresql" and row.workload.startswith("batch"):
            met = row.patron.per_second >= 50_000
            verdicts.append(f"postgresql: {row.workload} at {row.patron.per_second:,.0f} ev/s "
                            f"(aim 50,000): {'met' if met else 'NOT met'}")
    return verdicts


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=pg_server_default(),
                        help="a PostgreSQL server to create the scratch database on")
    parser.add_argument("--members", type=int, default=5000, help="members per program")
    parser.add_argument("--member-ref", choices=("id", "email"), default="id",
                        help="how events name their member (email adds identity lookup)")
    parser.add_argument("--clients", type=_counts, default=[1, 4, 16],
                        help="concurrent single-event clients, one run each (e.g. 1,4,16)")
    parser.add_argument("--workers", type=int, default=0,
                        help="server worker processes (patron serve --workers); 0: as the "
                             "README advises, one per core on PostgreSQL, 1 on SQLite")
    parser.add_argument("--program", choices=("twenty", "one"), default="twenty",
                        help="Patron's program: the 20-rule program or the 1-rule default")
    parser.add_argument("--single-events", type=int, default=20_000,
                        help="at most this many single events per run")
    parser.add_argument("--single-seconds", type=float, default=12,
                        help="and for at most this long")
    parser.add_argument("--batches", type=int, default=20,
                        help="batches per batch run (0: single events only)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-clients", type=int, default=1,
                        help="concurrent clients posting batches")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
            {"database": r.database, "workload": r.workload, "patron": r.patron.summary("events", "events_per_s"),
             "raw": r.raw.summary("events", "events_per_s"), "ratio": round(r.ratio, 3),
             "cpu_ms_per_event": r.cpu} for r in rows],
            "aims": aims(rows), "problems": problems}, indent=2))
    else:
        console = Console(width=max(Console().width, 124))  # a pipe would get 80 columns
        console.print(render(rows, args))
        for line in aims(rows):
            console.print(line)
        for line in problems:
            console.print(f"[red]check failed[/red] {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
