"""cProfile of the single-event path: ``ingest()`` with one event per transaction, and
``POST /events`` through ``create_app`` (in-process ASGI client), on a scratch database.

    .venv/bin/python benchmarks/profile_single.py --db postgresql --events 300 --top 30

The program is the 20-rule program with a tier ladder of ``benchmarks/ingest.py`` (``--program
one``: the 1-rule default). Each part also counts the SQL statements sent per event.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import re
import sys
from typing import Any

import anyio.to_thread
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from patron.api.app import create_app
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest

from _common import now_utc, pg_server_default
from _common import scratch_database as scratch
from ingest import ACTOR, Purchases, make_fixture, twenty_rule_program


class Statements:
    """Counts the statements an engine sends while ``on``."""

    def __init__(self, engine: Any) -> None:
        self.on, self.count = False, 0

        def counted(*_: Any) -> None:
            if self.on:
                self.count += 1
        sa_event.listen(engine, "before_cursor_execute", counted)


def report(profiles: list[cProfile.Profile], title: str, count: int, top: int,
           statements: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiles[0], stream=out)
    for other in profiles[1:]:
        stats.add(other)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top // 2)
    total = stats.total_tt  # type: ignore[attr-defined]
    text = re.sub(r"/\S*/site-packages/", "", out.getvalue().strip())
    text = re.sub(r"/\S*/(src|benchmarks)/", "", text)
    return (f"### {title}\n\n{count} events, {total:.2f} s profiled, "
            f"{1000 * total / count:.2f} ms per event, {statements / count:.1f} SQL statements "
            f"per event\n\n```\n{text}\n```\n")


class Profiled:
    """The app's own threads profiled: the event loop's share of each request and
    the thread-pool calls of sync endpoints (the test client's thread is left out)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = cProfile.Profile()
        self.pool = cProfile.Profile()
        self.on = False
        original = anyio.to_thread.run_sync

        async def run_sync(func: Any, *args: Any, **kwargs: Any) -> Any:
            def profiled(*inner: Any) -> Any:
                if not self.on:
                    return func(*inner)
                self.pool.enable()
                try:
                    return func(*inner)
                finally:
                    self.pool.disable()
            return await original(profiled, *args, **kwargs)
        anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if not self.on or scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.loop.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            self.loop.disable()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--program", choices=("twenty", "one"), default="twenty")
    args = parser.parse_args()
    with scratch(args.db, pg_server_default()) as target:
        db = create_database(target.url)
        upgrade(db)
        now = now_utc()
        fixture = make_fixture(db, 200, now,
                               twenty_rule_program() if args.program == "twenty" else None)
        statements = Statements(db.engine)
        purchases = Purchases(fixture, "identity", 1)
        events = [EventIn.model_validate(e) for e in purchases.many(args.events, now)]
        for event in events[:20]:  # warm up
            db.transact(lambda conn: ingest(conn, fixture.program, [event], now=now_utc(),
                                            actor=ACTOR))
        profile = cProfile.Profile()
        statements.on = True
        profile.enable()
        for event in events[20:]:
            db.transact(lambda conn: ingest(conn, fixture.program, [event], now=now_utc(),
                                            actor=ACTOR))
        profile.disable()
        statements.on = False
        print(report([profile], f"in-process ingest(), {args.db}", len(events) - 20, args.top,
                     statements.count))
        statements.count = 0

        bodies = [json.dumps(e).encode() for e in purchases.many(args.events, now)]
        headers = {"Authorization": f"Bearer {fixture.key}",
                   "Content-Type": "application/json"}
        app = Profiled(create_app(db))
        with TestClient(app) as client:
            for body in bodies[:20]:
                assert client.post("/api/v1/events", content=body,
                                   headers=headers).status_code == 201
            app.on = statements.on = True
            for body in bodies[20:]:
                client.post("/api/v1/events", content=body, headers=headers)
            app.on = statements.on = False
        print(report([app.loop, app.pool], f"POST /api/v1/events through create_app, {args.db}",
                     len(bodies) - 20, args.top, statements.count))
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
