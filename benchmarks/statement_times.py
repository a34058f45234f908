"""Wall time of each SQL statement of the single-event path, summed by statement.

    PYTHONPATH=src:benchmarks .venv/bin/python benchmarks/statement_times.py --db postgresql

One event per transaction through ``ingest()`` (the 20-rule program of
``benchmarks/ingest.py``); each statement is timed from the driver call to its return,
and the commit too. Prints the statements by total time, with their count per event, and on
PostgreSQL the prepared statements it kept planning anew (``pg_prepared_statements``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict
from typing import Any

from sqlalchemy import event as sa_event

from patron.db import create_database
from patron.db.migrate import upgrade
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest

from _common import now_utc, pg_server_default
from _common import scratch_database as scratch
from ingest import ACTOR, Purchases, make_fixture, twenty_rule_program


class Timer:
    def __init__(self, engine: Any) -> None:
        self.on = False
        self.total: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)

        def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            conn.info["t0"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if self.on:
                key = re.sub(r"\s+", " ", statement)[:110]
                self.total[key] += time.perf_counter() - conn.info["t0"]
                self.count[key] += 1

        def before_commit(conn: Any) -> None:
            conn.info["c0"] = time.perf_counter()

        def after_commit(conn: Any) -> None:
            if self.on and "c0" in conn.info:
                self.total["COMMIT"] += time.perf_counter() - conn.info.pop("c0")
                self.count["COMMIT"] += 1
        sa_event.listen(engine, "before_cursor_execute", before)
        sa_event.listen(engine, "after_cursor_execute", after)
        sa_event.listen(engine, "commit", before_commit)
        self.after_commit = after_commit


def print_replanned(engine: Any) -> None:
    """The prepared statements PostgreSQL kept planning anew on the (one) connection the
    run used: a custom plan after the first five means the generic plan looked dearer,
    and each run pays the planning again."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements "
            "WHERE custom_plans > 5 ORDER BY custom_plans DESC").all()
    print(f"prepared statements planned on every run: {len(rows)}")
    for generic, custom, statement in rows:
        text = re.sub(r"\s+", " ", statement)[:110]
        print(f"  {custom} custom / {generic} generic plans: {text}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--program", choices=("twenty", "one"), default="twenty")
    args = parser.parse_args()
    with scratch(args.db, pg_server_default()) as target:
        db = create_database(target.url)
        upgrade(db)
        now = now_utc()
        fixture = make_fixture(db, args.members, now,
                               twenty_rule_program() if args.program == "twenty" else None)
        timer = Timer(db.engine)
        purchases = Purchases(fixture, "identity", 1)
        events = [EventIn.model_validate(e) for e in purchases.many(args.events, now)]
        walls, cpus = [], []
        for i, event in enumerate(events):
            timer.on = i >= 20
            start, cpu = time.perf_counter(), time.process_time()
            with db.engine.connect() as conn:
                with conn.begin():
                    ingest(conn, fixture.program, [event], now=now_utc(), actor=ACTOR)
                timer.after_commit(conn)
            if timer.on:
                walls.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
        n = len(walls)
        walls.sort()
        cpus.sort()
        summed = sum(timer.total.values())
        statements = sum(c for k, c in timer.count.items() if k != "COMMIT")
        print(f"{n} events: wall p50 {walls[n // 2] * 1000:.2f} ms, mean "
              f"{sum(walls) / n * 1000:.2f} ms; in SQL (incl. commit) {summed / n * 1000:.2f} ms "
              f"per event")
        print(f"{statements / n:.2f} statements per event (and a commit); CPU time of this "
              f"process p50 {cpus[n // 2] * 1000:.2f} ms, mean {sum(cpus) / n * 1000:.2f} ms "
              f"per event (load average {os.getloadavg()[0]:.2f})")
        for key, total in sorted(timer.total.items(), key=lambda kv: -kv[1])[:30]:
            print(f"{total / n * 1000:7.3f} ms {timer.count[key] / n:5.2f}× {key}")
        if args.db == "postgresql":
            print_replanned(db.engine)
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
