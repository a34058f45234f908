"""Member features and segments at scale: N members (default 1,000,000) with purchases.

Loads a fresh program straight through the driver (sqlite3 executemany, PostgreSQL
COPY): members with a birthdate, region and join channel, an account, and 0-4
purchases each (event, order and one or two lines). Then times, through Patron's
own code in one transaction each:

- ``refresh_features``: every member's features (aggregates, RFM, BG/NBD and
  Gamma-Gamma fitted on a sample, favourites, balance, tier, referrals) written;
- a refresh of 3 dynamic segments over those features.

Beside each, a same-run raw baseline: the bare SQL of the same purchase
aggregates (orders per member and day, then per member; favourite category and
channel) as ``INSERT … SELECT`` into a scratch table, and, for segments, the three
conditions as plain SQL ``WHERE`` counts over ``member_features``. Goal (issue):
features and segments < 30 s for 1M members.

    .venv/bin/python benchmarks/features_scale.py --members 50000
    .venv/bin/python benchmarks/features_scale.py --db postgresql
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import json
import os
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Scratch, pg_server_default, scratch_database  # noqa: E402
from patron.db import create_database  # noqa: E402
from patron.db.migrate import upgrade  # noqa: E402
from patron.program.domain import ProgramSettings  # noqa: E402
from patron.program.service import create_program, get_program  # noqa: E402
from patron.segments import service  # noqa: E402
from patron.segments.features import refresh_features  # noqa: E402
from patron.segments.schemas import SegmentCreate  # noqa: E402

console = Console(width=120)
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SEGMENTS = {
    "regulars": ("member.features.frequency >= 3", "frequency >= 3"),
    "big-spenders": ("member.features.monetary >= 20000 && member.features.r_score >= 4",
                     "monetary >= 20000 AND r_score >= 4"),
    "north-young": ('member.features.region == "north" && member.features.age_band == "25-34"',
                    "region = 'north' AND age_band = '25-34'"),
}
CATEGORIES = ("shoes", "socks", "bags", "coats", "hats")
CHANNELS = ("web", "store", "app")
REGIONS = ("north", "south", "east", "west")


def generate(n: int, program_id: int) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(42)
    rows: dict[str, list[tuple[Any, ...]]] = {k: [] for k in
                                              ("members", "accounts", "events", "orders",
                                               "order_lines")}
    order_id = line_id = 0
    for member in range(1, n + 1):
        joined = NOW - timedelta(days=rng.randint(30, 900))
        rows["members"].append((member, program_id, "active", "{}", "{}", joined, joined,
                                date(rng.randint(1950, 2006), rng.randint(1, 12), 1),
                                rng.choice(REGIONS), rng.choice(CHANNELS)))
        rows["accounts"].append((member, program_id, member, rng.randint(0, 500), 0, 0, joined))
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
            order_id += 1
            at = NOW - timedelta(days=rng.randint(1, 700), minutes=rng.randint(0, 1400))
            total = rng.randint(5_00, 200_00)
            rows["events"].append((order_id, program_id, f"e{order_id}", "purchase", member,
                                   at, at, "{}", "{}"))
            rows["orders"].append((order_id, program_id, f"o{order_id}", member, order_id,
                                   rng.choice(CHANNELS), "USD", total, at))
            line_id += 1
            rows["order_lines"].append((line_id, order_id, 1, "SKU", rng.choice(CATEGORIES),
                                        1, total))
    return rows


COLUMNS = {
    "members": "id, program_id, status, attributes, consents, created_at, updated_at, "
               "birthdate, region, join_channel",
    "accounts": "id, program_id, member_id, available, pending, lifetime_earned, created_at",
    "events": "id, program_id, external_id, type, member_id, occurred_at, received_at, data, "
              "outcome",
    "orders": "id, program_id, order_id, member_id, event_id, channel, currency, total, "
              "occurred_at",
    "order_lines": "id, order_pk, line_no, sku, category, quantity, amount",
}


def load(scratch: Scratch, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    conn = scratch.connect()
    if scratch.name == "sqlite":
        conn.execute("BEGIN")
        for table, items in rows.items():
            marks = ", ".join("?" * len(items[0])) if items else ""
            conn.executemany(f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})",
                             [tuple(_sqlite(v) for v in row) for row in items])
        conn.execute("COMMIT")
    else:
        with conn.cursor() as cur:
            for table, items in rows.items():
                with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                    for row in items:
                        copy.write_row(row)
            for table in rows:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    conn.close()


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def baseline_features(scratch: Scratch, program_id: int) -> _Clock:
    """The same purchase aggregates in bare SQL, INSERT … SELECT into a scratch table."""
    day = ("CAST(julianday(occurred_at) - 2440587.5 AS INTEGER)" if scratch.name == "sqlite"
           else "CAST(floor(extract(epoch FROM occurred_at) / 86400) AS BIGINT)")
    statements = [
        "CREATE TABLE bench_agg (member_id BIGINT, orders BIGINT, spend BIGINT, first_day "
        "BIGINT, last_day BIGINT, days BIGINT, first_spend BIGINT)",
        f"""INSERT INTO bench_agg SELECT member_id, SUM(n), SUM(spend), MIN(day), MAX(day),
            COUNT(*), SUM(CASE WHEN day = first_day THEN spend ELSE 0 END) FROM (
              SELECT member_id, {day} AS day, COUNT(*) AS n, SUM(total) AS spend,
                     MIN({day}) OVER (PARTITION BY member_id) AS first_day
              FROM orders WHERE program_id = {program_id} GROUP BY member_id, {day}) d
            GROUP BY member_id""",
        "CREATE TABLE bench_fav (member_id BIGINT, category VARCHAR(200))",
        f"""INSERT INTO bench_fav SELECT member_id, category FROM (
              SELECT o.member_id, l.category, ROW_NUMBER() OVER (PARTITION BY o.member_id
                ORDER BY SUM(l.amount) DESC, l.category) AS rn
              FROM orders o JOIN order_lines l ON l.order_pk = o.id
              WHERE o.program_id = {program_id} GROUP BY o.member_id, l.category) r
            WHERE rn = 1""",
        f"""INSERT INTO bench_fav SELECT member_id, channel FROM (
              SELECT member_id, channel, ROW_NUMBER() OVER (PARTITION BY member_id
                ORDER BY COUNT(*) DESC, channel) AS rn
              FROM orders WHERE program_id = {program_id} GROUP BY member_id, channel) r
            WHERE rn = 1""",
    ]
    return _timed_raw(scratch, statements, ["bench_agg", "bench_fav"])


def baseline_segments(scratch: Scratch, program_id: int) -> _Clock:
    statements = [f"SELECT COUNT(*) FROM member_features WHERE program_id = {program_id} "
                  f"AND {where}" for _, where in SEGMENTS.values()]
    return _timed_raw(scratch, statements, [])


def _timed_raw(scratch: Scratch, statements: list[str], drop: list[str]) -> _Clock:
    conn = scratch.connect()
    if scratch.name == "sqlite":
        conn.execute("BEGIN")
    with _Clock() as clock:
        clock.watch(None if scratch.name == "sqlite" else conn.info.backend_pid)
        for sql in statements:
            conn.execute(sql)
    if scratch.name == "sqlite":
        conn.execute("ROLLBACK")
    else:
        conn.rollback()
    conn.close()
    return clock


class _Clock:
    """Wall and CPU seconds of timed work. CPU is this process's plus, on PostgreSQL,
    the server process's that ran the work (read from /proc, so only for a server on
    this machine): on a shared machine CPU says more than wall time."""

    def __init__(self) -> None:
        self.backend: int | None = None

    def watch(self, backend_pid: int | None) -> None:
        self.backend = backend_pid
        self.began_server = self._server()

    def _server(self) -> float:
        try:
            with open(f"/proc/{self.backend}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, TypeError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> _Clock:
        self.began = (time.perf_counter(), time.process_time())
        self.began_server = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.began[0]
        self.cpu = time.process_time() - self.began[1] + (
            self._server() - self.began_server if self.backend else 0.0)


def _backend(conn: Any) -> int | None:
    if conn.dialect.name != "postgresql":
        return None
    return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


class _profiled:
    """cProfile around a block when asked; prints the top of the profile by own time."""

    def __init__(self, enabled: bool, title: str) -> None:
        self.profile = cProfile.Profile() if enabled else None
        self.title = title

    def __enter__(self) -> None:
        if self.profile is not None:
            self.profile.enable()

    def __exit__(self, *exc: object) -> None:
        if self.profile is None:
            return
        self.profile.disable()
        out = io.StringIO()
        pstats.Stats(self.profile, stream=out).sort_stats("tottime").print_stats(15)
        pstats.Stats(self.profile, stream=out).sort_stats("cumulative").print_stats(
            "patron", 20)
        console.print(f"[bold]profile: {self.title}[/bold]")
        print(out.getvalue())


def run(kind: str, members: int, pg_server: str, profile: bool = False) -> dict[str, Any]:
    with scratch_database(kind, pg_server) as scratch:
        db = create_database(scratch.url)
        upgrade(db)
        program = db.transact(lambda conn: create_program(
            conn, slug="bench", name="Bench", settings=ProgramSettings(), now=NOW))
        began = time.perf_counter()
        rows = generate(members, program.id)
        load(scratch, rows)
        loaded = time.perf_counter() - began
        console.print(f"[dim]{kind}: loaded {members:,} members, {len(rows['orders']):,} "
                      f"orders in {loaded:.1f} s[/dim]")
        program = db.read(lambda conn: get_program(conn, program.id))
        base_features = baseline_features(scratch, program.id)
        with _profiled(profile, f"{kind} features"), _Clock() as features:
            db.transact(lambda conn: (features.watch(_backend(conn)),
                                      refresh_features(conn, program, NOW)))
        for key, (condition, _) in SEGMENTS.items():
            payload = SegmentCreate(key=key, name=key, condition=condition)
            db.transact(lambda conn, p=payload: service.create_segment(conn, program, p,
                                                                       "bench", NOW))
        base_segments = baseline_segments(scratch, program.id)
        with _profiled(profile, f"{kind} segments"), _Clock() as segments:
            changes = db.transact(lambda conn: (segments.watch(_backend(conn)),
                                                service.refresh_all(conn, program, NOW))[1])
        db.dispose()
    return {"db": kind, "members": members, "orders": len(rows["orders"]),
            "features_s": features.wall, "features_baseline_s": base_features.wall,
            "segments_s": segments.wall, "segments_baseline_s": base_segments.wall,
            "features_cpu_s": features.cpu, "features_baseline_cpu_s": base_features.cpu,
            "segments_cpu_s": segments.cpu, "segments_baseline_cpu_s": base_segments.cpu,
            "load_average": os.getloadavg(),
            "segment_sizes": {c.key: c.members for c in changes}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--json", action="store_true", help="Print the results as JSON too")
    parser.add_argument("--profile", action="store_true",
                        help="Print the top of a cProfile profile of each timed step")
    args = parser.parse_args()
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = [run(kind, args.members, args.pg_url, args.profile) for kind in kinds]
    table = Table("db", "members", "work", "Patron s", "raw SQL s", "ratio", "Patron CPU s",
                  "raw CPU s", "goal < 30 s")
    for r in results:
        for work in ("features", "segments"):
            mine, raw = r[f"{work}_s"], r[f"{work}_baseline_s"]
            table.add_row(r["db"], f"{r['members']:,}", work if work == "features"
                          else "3 segments", f"{mine:.2f}", f"{raw:.2f}",
                          f"{mine / raw:.1f}x" if raw else "-", f"{r[f'{work}_cpu_s']:.2f}",
                          f"{r[f'{work}_baseline_cpu_s']:.2f}", "")
        total = r["features_s"] + r["segments_s"]
        table.add_row(r["db"], f"{r['members']:,}", "total", f"{total:.2f}", "", "",
                      f"{r['features_cpu_s'] + r['segments_cpu_s']:.2f}", "",
                      "yes" if total < 30 else "no")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    table.caption = (f"load average {load} ({os.cpu_count()} CPUs); CPU: this process plus "
                     "the PostgreSQL server process that ran the work")
    console.print(table)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
