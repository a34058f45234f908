"""Analytics speed: every report over 1M purchases of 50,000 members, SQLite and PostgreSQL.

Each report runs through ``patron.analytics.service.run_report`` exactly as the API
and CLI run it (DuckDB snapshot of the program's rows, then the report's SQL and
the pure scoring/fitting), timed end to end. On SQLite the reports are built in the
analytics worker process, which ``patron serve`` starts once as it starts: so does this
script before the first report (its start-up time is printed apart). Aim (issue 13): every report under 2 s,
``clv`` under 10 s.

Two same-run comparisons. "before": the same reports by the code of an earlier
revision (``--before REV``, by default the last one before the analytics speed work;
``--before none`` skips it): its ``src`` is exported with ``git archive`` into a
temporary directory and this script runs again there (``--reports-only``) in a
subprocess, on the same program, alternating with the current code report by report
(which then runs in a fresh subprocess too, so both pay the same first-report costs).
Every report of both is compared figure for figure (all but ``generated_at``), and a
difference is printed. And a baseline: the same RFM (recency / frequency / monetary
quintile scores with ties sharing a score, and the R×F segment names) in plain pandas:
``pandas.read_sql`` of the program's orders through SQLAlchemy, then groupby and rank.

Loading 1M events through ``ingest`` takes several minutes per database, so by
default the data is written by a bulk loader (``--loader bulk``): it writes the rows
the pipeline writes for a purchase at the default settings (member with an
external-id identity and an account, the event, the order and its lines, a posted
earn entry at 1 point per dollar and its lot expiring after 365 days), plus what
the sweeps and spends would add (expired lots with their expiry entries and lot
moves, a few points spends), straight through the driver (sqlite3 executemany,
PostgreSQL COPY). ``--loader pipeline`` sends the same purchases through
``ingest`` in batches of 1,000 instead. The loaded program is kept and reused by
later runs (``--fresh`` to rebuild). What was done is printed.

    .venv/bin/python benchmarks/analytics.py                        # both databases
    .venv/bin/python benchmarks/analytics.py --db sqlite --events 100000 --members 5000
    .venv/bin/python benchmarks/analytics.py --db postgresql --profile points  # cProfile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from patron.analytics import domain
from patron.analytics.schemas import REPORTS, ReportQuery
from patron.analytics.service import run_report, start_worker
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.events.tables import orders
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program, get_program_by_slug

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SQLITE_PATH = "/tmp/patron-bench-analytics.db"
PG_DATABASE = "patron_bench_analytics"
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
DAYS = 730
CHANNELS = ("web", "pos", "app")
REGIONS = ("North", "South", "East", "West", "Central")
MENU = (("ESP-1", "drinks", 320), ("LAT-1", "drinks", 450), ("CRO-1", "food", 380),
        ("SAN-1", "food", 790), ("BNS-ETH", "beans", 1650), ("MUG-1", "merch", 1800))
REWARDS = ("Free coffee", "Free pastry", "Mug", "Beans 250g", "Donation")
AIM = {name: (10.0 if name == "clv" else 2.0) for name in REPORTS}
BEFORE = "a69f38a"
SRC = Path(__file__).resolve().parent.parent / "src"
"""The last revision before the analytics speed work (issue 13, goal 4)."""
CHUNK_MEMBERS = 2000
out = Console()


# --------------------------------------------------------------------------- data

def member_plan(members: int, events: int, seed: int = 11) -> list[tuple[int, int]]:
    """``(first day, purchases)`` per member, summing to ``events`` exactly."""
    rng = random.Random(seed)
    weights = [rng.paretovariate(1.6) for _ in range(members)]
    scale = (events - members) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    for i in range(events - sum(counts)):
        counts[i % members] += 1
    return [(rng.randrange(DAYS - 30), n) for n in counts]


def purchases(plan: list[tuple[int, int]], seed: int = 13
              ) -> Iterator[tuple[int, list[tuple[datetime, str, list[tuple[str, str, int]]]]]]:
    """Per member index: its purchases as ``(time, channel, lines)``, oldest first."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=DAYS)
    for index, (first, n) in enumerate(plan):
        # members stop buying after a while (what BG/NBD models): a lifetime of ~1 year
        last = min(DAYS, first + 1 + int(rng.expovariate(1 / 365)))
        days = sorted([first] + [rng.randrange(first, last) for _ in range(n - 1)])
        yield index, [(start + timedelta(days=d, seconds=rng.randrange(8 * 3600, 20 * 3600)),
                       rng.choice(CHANNELS), rng.choices(MENU, k=rng.choice((1, 1, 2, 3))))
                      for d in days]


# --------------------------------------------------------------------------- bulk loader

class Ids:
    """Explicit primary keys, continuing after what each table holds."""

    def __init__(self, start: dict[str, int]) -> None:
        self.next = dict(start)

    def take(self, table: str) -> int:
        self.next[table] += 1
        return self.next[table]


TABLE_COLUMNS = {
    "members": ("id", "program_id", "status", "name", "birthdate", "region", "join_channel",
                "attributes", "consents", "created_at", "updated_at"),
    "identities": ("id", "program_id", "member_id", "type", "value", "channel", "created_at"),
    "accounts": ("id", "program_id", "member_id", "available", "pending", "lifetime_earned",
                 "created_at"),
    "events": ("id", "program_id", "external_id", "type", "member_id", "channel",
               "occurred_at", "received_at", "data", "outcome"),
    "orders": ("id", "program_id", "order_id", "member_id", "event_id", "channel", "currency",
               "total", "occurred_at"),
    "order_lines": ("id", "order_pk", "line_no", "sku", "category", "quantity", "amount"),
    "ledger_entries": ("id", "program_id", "account_id", "member_id", "kind", "points",
                       "status", "occurred_at", "recorded_at", "available_at", "event_id",
                       "idempotency_key", "order_id", "reason", "actor", "details"),
    "lots": ("id", "program_id", "account_id", "entry_id", "points", "remaining", "state",
             "earned_at", "available_at", "expires_at"),
    "lot_moves": ("id", "entry_id", "lot_id", "points"),
}


def _member_rows(rows: dict[str, list[tuple]], ids: Ids, pid: int, index: int,
                 history: list, rng: random.Random) -> tuple[int, int]:
    joined = history[0][0] - timedelta(minutes=5)
    member_id, account_id = ids.take("members"), ids.take("accounts")
    birth = date(1950 + rng.randrange(55), 1 + rng.randrange(12), 1 + rng.randrange(28))
    rows["members"].append((member_id, pid, "active", f"Member {index}", birth,
                            rng.choice(REGIONS), history[0][1], {}, {}, joined, joined))
    rows["identities"].append((ids.take("identities"), pid, member_id, "external_id",
                               f"bench-{index}", history[0][1], joined))
    return member_id, account_id


def _purchase_rows(rows: dict[str, list[tuple]], ids: Ids, pid: int, member_id: int,
                   account_id: int, index: int, n: int, purchase: tuple,
                   rng: random.Random) -> int:
    """Rows of one purchase; returns the points still available from it."""
    at, channel, lines = purchase
    total = sum(price for _, _, price in lines)
    event_id, order_pk, entry_id, lot_id = (ids.take(t) for t in (
        "events", "orders", "ledger_entries", "lots"))
    external = f"bench-{index}-{n}"
    data = {"order_id": external, "currency": "USD", "total": total,
            "lines": [{"sku": s, "category": c, "quantity": 1, "amount": p} for s, c, p in lines]}
    rows["events"].append((event_id, pid, external, "purchase", member_id, channel, at, NOW,
                           data, {"points": total // 100}))
    rows["orders"].append((order_pk, pid, external, member_id, event_id, channel, "USD",
                           total, at))
    rows["order_lines"].extend((ids.take("order_lines"), order_pk, k, s, c, 1, p)
                               for k, (s, c, p) in enumerate(lines))
    points, expires = total // 100, at + timedelta(days=365)
    rows["ledger_entries"].append((entry_id, pid, account_id, member_id, "earn", points,
                                   "posted", at, NOW, None, event_id, f"event:{external}",
                                   external, f"1 points per USD 1 on order {external}",
                                   "bench", {"rule": "flat_rate"}))
    spent = points // 2 if points and rng.random() < 0.1 else 0
    if spent:
        spend_id = ids.take("ledger_entries")
        rows["ledger_entries"].append((
            spend_id, pid, account_id, member_id, "spend", -spent, "posted",
            at + timedelta(days=3), NOW, None, None, f"spend:{external}", None,
            rng.choice(REWARDS), "bench", {}))
        rows["lot_moves"].append((ids.take("lot_moves"), spend_id, lot_id, -spent))
    left = points - spent
    expired = expires <= NOW and left > 0
    if expired:
        expire_id = ids.take("ledger_entries")
        rows["ledger_entries"].append((expire_id, pid, account_id, member_id, "expire", -left,
                                       "posted", expires, NOW, None, None, f"expire:{lot_id}",
                                       None, f"{left} points expired unused", "job:expire",
                                       {"lot_ids": [lot_id]}))
        rows["lot_moves"].append((ids.take("lot_moves"), expire_id, lot_id, -left))
    state = "expired" if expired else ("open" if left else "closed")
    rows["lots"].append((lot_id, pid, account_id, entry_id, points, 0 if expired else left,
                         state, at, at, expires))
    return 0 if expired else left


def bulk_chunks(program: Program, plan: list[tuple[int, int]], ids: Ids
                ) -> Iterator[tuple[int, dict[str, list[tuple]]]]:
    rng = random.Random(17)
    rows: dict[str, list[tuple]] = {t: [] for t in TABLE_COLUMNS}
    done = 0
    for index, history in purchases(plan):
        member_id, account_id = _member_rows(rows, ids, program.id, index, history, rng)
        available = earned = 0
        for n, purchase in enumerate(history):
            available += _purchase_rows(rows, ids, program.id, member_id, account_id, index, n,
                                        purchase, rng)
            earned += sum(p for _, _, p in purchase[2]) // 100
        rows["accounts"].append((account_id, program.id, member_id, available, 0, earned,
                                 history[0][0]))
        done += len(history)
        if (index + 1) % CHUNK_MEMBERS == 0:
            yield done, rows
            rows, done = {t: [] for t in TABLE_COLUMNS}, 0
    yield done, rows


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def write_sqlite(path: str, chunks: Iterator[tuple[int, dict[str, list[tuple]]]],
                 step: Callable[[int], None]) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    for done, rows in chunks:
        for table, data in rows.items():
            if data:
                cols = TABLE_COLUMNS[table]
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})",
                    ([_sqlite_value(v) for v in row] for row in data))
        step(done)
    conn.execute("COMMIT")
    conn.close()


def write_postgres(url: str, chunks: Iterator[tuple[int, dict[str, list[tuple]]]],
                   step: Callable[[int], None]) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        for done, rows in chunks:
            for table, data in rows.items():
                if not data:
                    continue
                with conn.cursor().copy(
                        f"COPY {table} ({', '.join(TABLE_COLUMNS[table])}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row([Jsonb(v) if isinstance(v, dict) else v for v in row])
            step(done)
        for table in TABLE_COLUMNS:
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")


def start_ids(db: Database) -> Ids:
    with db.engine.connect() as conn:
        return Ids({t: conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar()
                    for t in TABLE_COLUMNS})


def load_pipeline(db: Database, program: Program, plan: list[tuple[int, int]],
                  step: Callable[[int], None]) -> None:
    batch: list[EventIn] = []

    def flush() -> None:
        db.transact(lambda conn: ingest(conn, program, batch, now=NOW, actor="bench"))
        step(len(batch))
        batch.clear()
    for index, history in purchases(plan):
        for n, (at, channel, lines) in enumerate(history):
            total = sum(p for _, _, p in lines)
            batch.append(EventIn.model_validate({
                "id": f"bench-{index}-{n}", "type": "purchase", "occurred_at": at,
                "channel": channel,
                "member": {"identity": {"type": "external_id", "value": f"bench-{index}"}},
                "data": {"order_id": f"bench-{index}-{n}", "currency": "USD", "total": total,
                         "lines": [{"sku": s, "category": c, "amount": p}
                                   for s, c, p in lines]}}))
            if len(batch) == 1000:
                flush()
    if batch:
        flush()


# --------------------------------------------------------------------------- runs

def prepare(name: str, url: str, args: argparse.Namespace) -> tuple[Database, Program]:
    db = create_database(url)
    upgrade(db)
    slug = f"bench-{args.events}-{args.members}-{args.loader}"
    try:
        program = db.read(lambda conn: get_program_by_slug(conn, slug))
        held = db.read(lambda conn: conn.execute(select(func.count()).select_from(orders)
                                                 .where(orders.c.program_id == program.id))
                       .scalar())
        if held == args.events and not args.fresh:
            out.print(f"[dim]{name}: reusing program {slug} ({held:,} purchases loaded "
                      "by an earlier run)[/dim]")
            analyse(db)
            return db, program
        slug = f"{slug}-{int(time.time())}"
    except Exception:  # noqa: BLE001 - not there yet
        pass
    settings = ProgramSettings(pending_days=0, expiry={"days": 365})
    program = db.transact(lambda conn: create_program(
        conn, slug=slug, name="Analytics benchmark", settings=settings,
        now=NOW - timedelta(days=DAYS + 1)))
    plan = member_plan(args.members, args.events)
    started, seen = time.perf_counter(), [0]

    def step(n: int) -> None:
        seen[0] += n
        if seen[0] % 100_000 < n:
            out.print(f"[dim]  {name}: {seen[0]:,} purchases loaded[/dim]")
    if args.loader == "pipeline":
        load_pipeline(db, program, plan, step)
        how = "through flows.ingest.ingest, 1,000 events per transaction"
    else:
        chunks = bulk_chunks(program, plan, start_ids(db))
        if db.is_sqlite:
            write_sqlite(db.engine.url.database, chunks, step)
        else:
            write_postgres(url, chunks, step)
        how = ("by the bulk loader (the pipeline's rows written through the driver: "
               + ("sqlite3 executemany, one transaction)" if db.is_sqlite else "COPY)"))
    out.print(f"{name}: loaded {args.events:,} purchases of {args.members:,} members {how} "
              f"in {time.perf_counter() - started:.0f} s")
    analyse(db)
    return db, program


def analyse(db: Database) -> None:
    """PostgreSQL's statistics of the loaded tables, as autovacuum would gather them
    soon after a load (it is off on some servers, this one included): without them the
    planner takes a million rows for a few, and the reports would be timed on plans no
    running server keeps."""
    if not db.is_sqlite:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def pandas_rfm(db: Database, program: Program) -> tuple[float, float, int]:
    """The baseline: read the orders with pandas, score RFM; (total s, compute s, members)."""
    started = time.perf_counter()
    frame = pd.read_sql(select(orders.c.member_id, orders.c.total, orders.c.occurred_at)
                        .where(orders.c.program_id == program.id), db.engine)
    read = time.perf_counter()
    frame["day"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.tz_convert(
        program.settings.timezone).dt.tz_localize(None).dt.normalize()
    as_of = pd.Timestamp(NOW.date())
    rfm = frame.groupby("member_id").agg(last=("day", "max"), frequency=("total", "size"),
                                         monetary=("total", "sum"))
    rfm["recency"] = (as_of - rfm["last"]).dt.days
    n = len(rfm)
    for column, score, sign in (("recency", "r", -1), ("frequency", "f", 1),
                                ("monetary", "m", 1)):
        below = (sign * rfm[column]).rank(method="min") - 1
        rfm[score] = 1 + (5 * below.astype(int)) // n
    rfm["segment"] = [domain.segment_of(r, f) for r, f in zip(rfm["r"], rfm["f"])]
    rfm["segment"].value_counts()
    done = time.perf_counter()
    return done - started, done - read, n


QUERY = ReportQuery(end=NOW.date(), calibration_end=NOW.date() - timedelta(days=180),
                    limit=None, point_value=Decimal("0.01"))


def cpu_seconds() -> float:
    """CPU time so far, user and system, of this process (DuckDB's threads included) and
    of the processes it started (on SQLite, the analytics worker builds the reports)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        used = resource.getrusage(who)
        total += used.ru_utime + used.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_one(db: Database, program: Program, name: str,
            profile: bool = False) -> tuple[float, float, str, dict[str, Any], str]:
    """One report end to end: ``(seconds, CPU seconds, source, figures, cProfile top
    entries)``. On a shared machine the wall time grows with the load; the CPU time
    (the process and its threads) much less."""
    profiler = cProfile.Profile() if profile else None
    cpu = cpu_seconds()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = db.read(lambda conn: run_report(conn, program, name, QUERY, NOW))
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    top = ""
    if profiler:
        text_out = io.StringIO()
        pstats.Stats(profiler, stream=text_out).sort_stats("cumulative").print_stats(18)
        top = text_out.getvalue()
    figures = report.model_dump(mode="json", exclude={"generated_at"})
    return seconds, cpu, report.source, figures, top


class Before:
    """The reports by an earlier revision's code, in a subprocess on the same program."""

    def __init__(self, revision: str) -> None:
        self.revision = revision
        self._tmp = tempfile.TemporaryDirectory(prefix="patron-analytics-before-")
        root = Path(__file__).resolve().parent.parent
        archive = subprocess.run(["git", "-C", str(root), "archive", revision, "src"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", self._tmp.name], input=archive, check=True)
        self.src = Path(self._tmp.name) / "src"

    def run(self, database: str, slug: str, name: str) -> tuple[float, float, dict[str, Any]]:
        seconds, cpu, _, figures = run_apart(self.src, database, slug, name)
        return seconds, cpu, figures

    def close(self) -> None:
        self._tmp.cleanup()


def run_apart(src: Path, database: str, slug: str,
              name: str) -> tuple[float, float, str, dict[str, Any]]:
    """One report by the code under ``src``, in a fresh process: ``(seconds, CPU seconds,
    source, figures)``. The current code runs this way too when compared with an earlier
    revision, so that both pay the same first-report costs (loading the scanner,
    attaching the database) and neither inherits the other's warm process."""
    found = subprocess.run(
        [sys.executable, __file__, "--reports-only", name, "--db", database,
         "--slug", slug], check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(src)})
    answer = json.loads(found.stdout.splitlines()[-1])
    return answer["seconds"], answer["cpu"], answer["source"], answer["figures"]


def differences(before: Any, after: Any, where: str = "") -> list[str]:
    """Where two reports' figures differ (first few), as ``path: before != after``."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [d for k in sorted(set(before) | set(after))
                for d in differences(before.get(k), after.get(k), f"{where}.{k}")][:5]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after))
                for d in differences(b, a, f"{where}[{i}]")][:5]
    return [] if before == after else [f"{where}: {before!r} != {after!r}"[:200]]


def run_reports(db: Database, program: Program, database: str, args: argparse.Namespace,
                before: Before | None) -> dict[str, dict[str, Any]]:
    """Each report by the current code and, alternating, by the earlier revision."""
    found: dict[str, dict[str, Any]] = {}
    if before is None:
        # as `patron serve` does when it starts (create_app): a SQLite database's reports are
        # built in the analytics worker, started once per server process, not per report
        started = time.perf_counter()
        start_worker(db.engine, wait=True)
        found["_worker"] = {"seconds": time.perf_counter() - started}
    for name in args.reports:
        if before is not None and name not in args.profile:
            seconds, cpu, source, figures = run_apart(SRC, database, program.slug, name)
            top = ""
        else:
            seconds, cpu, source, figures, top = run_one(db, program, name,
                                                         profile=name in args.profile)
        row: dict[str, Any] = {"seconds": seconds, "cpu": cpu, "source": source}
        if top:
            out.print(f"[bold]{database} {name}: cProfile, top entries by cumulative time[/bold]")
            print(top)
        if before is not None:
            row["before"], row["before_cpu"], old = before.run(database, program.slug, name)
            row["differences"] = differences(old, figures)
            for line in row["differences"]:
                out.print(f"[red]{database} {name} differs from {before.revision}: {line}[/red]")
        found[name] = row
    return found


def reports_only(args: argparse.Namespace, url: str) -> None:
    """Subprocess mode: one report on the already loaded program, as one JSON line."""
    db = create_database(url)
    program = db.read(lambda conn: get_program_by_slug(conn, args.slug))
    seconds, cpu, source, figures, _ = run_one(db, program, args.reports_only)
    db.dispose()
    print(json.dumps({"seconds": seconds, "cpu": cpu, "source": source, "figures": figures}))


def targets_of(args: argparse.Namespace) -> list[tuple[str, str]]:
    targets = []
    if args.db in ("sqlite", "both"):
        targets.append(("sqlite", f"sqlite:///{SQLITE_PATH}"))
    if args.db in ("postgresql", "both"):
        server = os.environ.get("PATRON_BENCH_DATABASE_URL", DEFAULT_PG)
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": PG_DATABASE}).scalar():
                conn.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
        admin.dispose()
        targets.append(("postgresql", make_url(server).set(database=PG_DATABASE)
                        .render_as_string(hide_password=False)))
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--loader", choices=("bulk", "pipeline"), default="bulk")
    parser.add_argument("--fresh", action="store_true", help="Load a new program")
    parser.add_argument("--reports", nargs="+", choices=REPORTS, default=list(REPORTS),
                        metavar="REPORT", help="Run only these reports")
    parser.add_argument("--before", default=BEFORE, metavar="REV",
                        help=f"Revision whose code gives the 'before' times (default {BEFORE}; "
                             "'none' to skip)")
    parser.add_argument("--profile", nargs="*", default=[], metavar="REPORT",
                        help="Print cProfile's top entries for these reports (current code)")
    parser.add_argument("--reports-only", choices=REPORTS, help=argparse.SUPPRESS)
    parser.add_argument("--slug", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="Also print the figures as JSON")
    args = parser.parse_args()
    targets = targets_of(args)
    if args.reports_only:
        reports_only(args, targets[0][1])
        return
    before = None if args.before == "none" else Before(args.before)
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, url in targets:
            db, program = prepare(name, url, args)
            timings = run_reports(db, program, name, args, before)
            total, compute, scored = pandas_rfm(db, program)
            results[name] = {"reports": timings, "pandas_rfm": (total, compute, scored)}
            db.dispose()
    finally:
        if before is not None:
            before.close()
    show(results, args)


def show(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    names = list(results)
    before = args.before != "none"
    columns = [c for n in names for c in (
        (f"{n} s (CPU s)", f"{n} before s (CPU s)", "same") if before
        else (f"{n} s (CPU s)",))]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    table = Table("report", *columns, "goal s",
                  title=f"analytics over {args.events:,} purchases of {args.members:,} members"
                        f" (load average {load})", title_justify="left")
    for report in args.reports:
        cells = []
        for name in names:
            row = results[name]["reports"][report]
            mark = "" if row["seconds"] <= AIM[report] else " [red]over[/red]"
            cells.append(f"{row['seconds']:.2f} ({row['cpu']:.2f}) {row['source']}{mark}")
            if before:
                cells += [f"{row['before']:.2f} ({row['before_cpu']:.2f})",
                          "no" if row["differences"] else "yes"]
        table.add_row(report, *cells, f"{AIM[report]:.0f}")
    table.add_row("baseline: RFM in pandas (read_sql + groupby/rank)",
                  *(c for n in names for c in (
                      f"{results[n]['pandas_rfm'][0]:.2f} "
                      f"(compute {results[n]['pandas_rfm'][1]:.2f})",
                      *(("", "") if before else ()))), "")
    out.print(table)
    for name in names:
        started = results[name]["reports"].get("_worker")
        if started is not None and name == "sqlite":
            out.print(f"{name}: the analytics worker (a process of its own, which scans the "
                      f"SQLite file) started in {started['seconds']:.2f} s before the reports, "
                      "as `patron serve` starts it")
    if before:
        out.print(f"before: the code of {args.before}, each report by each code in a fresh "
                  "subprocess on the same program; "
                  "same: every figure of the report equal")
    if args.json:
        print(json.dumps({n: {"load_average": os.getloadavg(),
                              "reports": {k: {x: v[x] for x in ("seconds", "cpu", "before",
                                                                "before_cpu")
                                              if x in v} for k, v in r["reports"].items()
                                          if k != "_worker"},
                              "worker_start_seconds": r["reports"].get("_worker", {}).get(
                                  "seconds"),
                              "pandas_rfm_seconds": r["pandas_rfm"][0],
                              "pandas_rfm_compute_seconds": r["pandas_rfm"][1]}
                          for n, r in results.items()}, indent=2))


if __name__ == "__main__":
    main()
