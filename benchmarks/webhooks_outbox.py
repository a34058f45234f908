"""What the webhook outbox adds to single-event ingest.

In one scratch database (SQLite, then PostgreSQL) two programs of the same shape get
the same kind of purchases, one event per transaction through the in-process
``ingest()`` (no HTTP, so the outbox's share is not diluted by the web stack). Each has
an endpoint taking every event type, enabled in turn: in each round one program is

- ``with``: its endpoint enabled, so each purchase also writes its ``points.earned``
  message (and ``tier.changed`` when a member moves up), and the other
- ``without``: its endpoint disabled (the same-run baseline: nothing is written);

and a third program's purchases are written straight through the driver (``raw``,
``ingest.py``'s raw baseline), for scale.

Taking turns cancels what differs between the two programs (their members, their
purchases), and the side that goes first changes every two rounds, so a busy machine
weighs on both alike; the figures are events per second over all rounds, the outbox's
cost ``1 - with / without``, and the median of the rounds' own costs. On a shared,
loaded machine wall time swings with other people's work, so the CPU time the work took
(this process, plus PostgreSQL's processes serving it, from ``/proc``) is compared too.
The programs are the 1-rule default and the 20 rules of ``tests/program/benchmark.py``
with a tier ladder. Nothing is delivered (no worker runs); each run ends by counting the messages written, so the comparison is checked,
and prints the SQL statements each side sent per event (PostgreSQL's COPY of ten rows or
more is not counted: it does not go through the cursor).

    PYTHONPATH=src:benchmarks python benchmarks/webhooks_outbox.py [--db sqlite] \\
        [--events 50] [--rounds 8] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import time
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.webhooks import service
from patron.webhooks.event_types import EVENT_TYPES
from patron.webhooks.schemas import EndpointCreate, EndpointUpdate
from patron.webhooks.tables import webhook_messages

from _common import err, now_utc, pg_server_default
from ingest import (ACTOR, Fixture, Purchases, RawPurchase, make_fixture, scratch_database,
                    twenty_rule_program)

MEMBERS = 200


def subscribe_everything(db: Database, fixture: Fixture, enabled: bool = True) -> int:
    """An endpoint taking every event type; its id."""
    payload = EndpointCreate(url="http://127.0.0.1:9/hooks", event_types=list(EVENT_TYPES),
                             enabled=enabled)
    return db.transact(lambda conn: service.create_endpoint(conn, fixture.program, payload,
                                                            now_utc())).id


def enable(db: Database, fixture: Fixture, endpoint_id: int, enabled: bool) -> None:
    db.transact(lambda conn: service.update_endpoint(
        conn, fixture.program, endpoint_id, EndpointUpdate(enabled=enabled), now_utc()))


class CpuClock:
    """CPU seconds spent on the work: this process's, plus (PostgreSQL on this machine)
    those of the server processes serving its connections, read from ``/proc``. Unlike
    wall time, CPU time barely moves when other people load the machine."""

    def __init__(self, db: Database) -> None:
        self.backends: list[int] = []
        self.tick = os.sysconf("SC_CLK_TCK")
        if not db.is_sqlite:
            sa_event.listen(db.engine, "connect", self._connected)

    def _connected(self, dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.backends.append(cursor.fetchone()[0])
        dbapi_conn.commit()

    def __call__(self) -> float:
        server = 0
        for pid in self.backends:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                server += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):  # another machine, or gone
                continue
        return time.process_time() + server / self.tick


def single_events(db: Database, fixture: Fixture, purchases: Purchases, count: int,
                  profile: cProfile.Profile | None = None,
                  cpu: CpuClock | None = None) -> tuple[float, float]:
    """Wall and CPU seconds for ``count`` events, one transaction each."""
    events = [EventIn.model_validate(e) for e in purchases.many(count, now_utc())]
    program = fixture.program
    if profile is not None:
        profile.enable()
    cpu_started = cpu() if cpu else 0.0
    started = time.perf_counter()
    for event in events:
        outcome = db.transact(lambda conn: ingest(conn, program, [event], now=now_utc(),
                                                  actor=ACTOR))
        assert outcome[0].status == "processed", outcome[0]
    elapsed = time.perf_counter() - started
    cpu_spent = (cpu() - cpu_started) if cpu else 0.0
    if profile is not None:
        profile.disable()
    return elapsed, cpu_spent


def raw_events(target: Any, fixture: Fixture, purchases: Purchases, count: int) -> float:
    planned = purchases.many(count, now_utc())
    writer = target.raw_writer(fixture.program.id)
    conn = target.raw_connect()
    try:
        started = time.perf_counter()
        for event in planned:
            writer.write_one(conn, RawPurchase.of(event, fixture.accounts), now_utc())
        return time.perf_counter() - started
    finally:
        conn.close()


def messages_of(db: Database, program_id: int) -> int:
    return db.read(lambda conn: conn.execute(
        select(func.count()).select_from(webhook_messages)
        .where(webhook_messages.c.program_id == program_id)).scalar_one())


def bench(target: Any, program_kind: str, args: argparse.Namespace,
          profiles: dict[str, cProfile.Profile] | None) -> dict[str, Any]:
    db = create_database(target.url)
    cpu = CpuClock(db)
    upgrade(db)
    document = twenty_rule_program() if program_kind == "20 rules" else None
    fixtures = [make_fixture(db, MEMBERS, now_utc(), document) for _ in range(2)]
    raw = make_fixture(db, MEMBERS, now_utc())
    endpoints = [subscribe_everything(db, fixture, enabled=False) for fixture in fixtures]
    streams = [Purchases(fixture, "id", seed) for seed, fixture in enumerate(fixtures)]
    for fixture, stream in zip(fixtures, streams):  # warm up: rules, statement caches
        single_events(db, fixture, stream, 20)
    seconds = {"without": 0.0, "with": 0.0}
    cpu_seconds = {"without": 0.0, "with": 0.0}
    statements = {"without": 0, "with": 0, "setup": 0}
    side = ["setup"]

    def counted(*_: Any) -> None:
        statements[side[0]] += 1

    sa_event.listen(db.engine, "before_cursor_execute", counted)
    costs = []
    for n in range(args.rounds):
        subscribed = n % 2                      # each program is the subscribed one in turn
        side[0] = "setup"
        for number, endpoint_id in enumerate(endpoints):
            enable(db, fixtures[number], endpoint_id, number == subscribed)
        took = {}
        order = (subscribed, 1 - subscribed) if n % 4 < 2 else (1 - subscribed, subscribed)
        for number in order:
            name = side[0] = "with" if number == subscribed else "without"
            took[name], spent = single_events(db, fixtures[number], streams[number],
                                              args.events,
                                              profiles[name] if profiles else None, cpu)
            seconds[name] += took[name]
            cpu_seconds[name] += spent
        costs.append(1 - took["without"] / took["with"])
    raw_seconds = raw_events(target, raw, Purchases(raw, "id", 9), args.events * args.rounds)
    count = args.events * args.rounds
    written = sum(messages_of(db, fixture.program.id) for fixture in fixtures)
    assert written >= count, written  # a points.earned message per subscribed event at least
    db.dispose()
    return {"database": target.name, "program": program_kind, "events": count,
            "without": count / seconds["without"], "with": count / seconds["with"],
            "raw": count / raw_seconds, "messages": written,
            "median_cost": statistics.median(costs),
            "cpu_ms": {name: 1000 * cpu_seconds[name] / count for name in cpu_seconds},
            "statements": {name: statements[name] / count for name in ("without", "with")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=pg_server_default())
    parser.add_argument("--program", choices=["one", "twenty", "both"], default="both")
    parser.add_argument("--events", type=int, default=50, help="events per side per round")
    parser.add_argument("--rounds", type=int, default=8,
                        help="rounds (each program is subscribed in every other one)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile both sides; print the outbox's share of the time")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    programs = {"one": ["1 rule"], "twenty": ["20 rules"]}.get(args.program,
                                                                ["1 rule", "20 rules"])
    profiles = ({"without": cProfile.Profile(), "with": cProfile.Profile()}
                if args.profile else None)
    load_before = os.getloadavg()
    rows = []
    for kind in kinds:
        for program_kind in programs:
            with scratch_database(kind, args.pg_url) as target:
                err.print(f"{kind}, {program_kind}…")
                rows.append(bench(target, program_kind, args, profiles))
    load_after = os.getloadavg()
    table = Table("database", "program", "events per side", "raw driver /s",
                  "Patron, no endpoint /s", "Patron, endpoint for every type /s",
                  "outbox cost", "median of rounds", "CPU ms per event", "CPU cost",
                  "SQL per event", "messages")
    for row in rows:
        cost = 1 - row["with"] / row["without"]
        table.add_row(row["database"], row["program"], str(row["events"]), f"{row['raw']:.0f}",
                      f"{row['without']:.0f}", f"{row['with']:.0f}", f"{cost:+.1%}",
                      f"{row['median_cost']:+.1%}",
                      f"{row['cpu_ms']['without']:.2f} / {row['cpu_ms']['with']:.2f}",
                      f"{1 - row['cpu_ms']['without'] / row['cpu_ms']['with']:+.1%}",
                      f"{row['statements']['without']:.1f} / {row['statements']['with']:.1f}",
                      str(row["messages"]))
    out = Console(width=180)
    out.print(table)
    out.print(f"load average (1, 5, 15 min) before {tuple(round(x, 2) for x in load_before)}, "
              f"after {tuple(round(x, 2) for x in load_after)}; {os.cpu_count()} cores")
    if profiles is not None:
        report(out, profiles)


def report(out: Console, profiles: dict[str, cProfile.Profile]) -> None:
    """Both sides are profiled (so the table above still compares like with like); the
    outbox's own functions, and their share of the subscribed side's time."""
    totals = {name: pstats.Stats(p).total_tt for name, p in profiles.items()}  # type: ignore
    text = io.StringIO()
    stats = pstats.Stats(profiles["with"], stream=text)
    stats.sort_stats("cumulative").print_stats("webhooks", 12)
    found = [row for key, row in stats.stats.items()  # type: ignore[attr-defined]
             if key[2] == "on_happening"]
    share = found[0][3] / totals["with"] if found else 0.0
    out.print(f"profiled: without {totals['without']:.2f} s, with {totals['with']:.2f} s; "
              f"on_happening {share:.1%} of the subscribed side")
    print(text.getvalue())


if __name__ == "__main__":
    main()
