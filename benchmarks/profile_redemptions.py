"""cProfile of spends and reward redemptions: ``spend_points`` and ``redeem`` one per
transaction in process, and ``POST /api/v1/members/{id}/spends`` and
``POST /api/v1/members/{id}/redemptions`` through ``create_app`` (in-process ASGI
client), on a scratch database.

    .venv/bin/python benchmarks/profile_redemptions.py --db postgresql --requests 300 --top 30
"""

from __future__ import annotations

import argparse
import cProfile
import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from patron.api.app import create_app
from patron.auth.service import Role, create_key
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.flows import redemption
from patron.ledger.service import spend_points

from _common import pg_server_default
from _common import scratch_database as scratch
from profile_single import Profiled, Statements
from profile_single import report as event_report
from redemptions import ACTOR, COST, REWARD, make_fixture

WARM = 20


def report(profiles: list[cProfile.Profile], title: str, count: int, top: int,
           statements: int) -> str:
    return (event_report(profiles, title, count, top, statements)
            .replace(" events, ", " requests, ", 1).replace(" per event", " per request", 2))


def profiled(calls: list[Callable[[], Any]], statements: Statements) -> cProfile.Profile:
    for call in calls[:WARM]:
        call()
    profile = cProfile.Profile()
    statements.count, statements.on = 0, True
    profile.enable()
    for call in calls[WARM:]:
        call()
    profile.disable()
    statements.on = False
    return profile


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    n = args.requests
    with scratch(args.db, pg_server_default()) as target:
        db = create_database(target.url)
        upgrade(db)
        now = datetime.now(UTC)
        fixture = make_fixture(db, 100, COST * (4 * n // 100 + 8), now)
        members, program, run = fixture.members, fixture.program, uuid.uuid4().hex[:6]
        statements = Statements(db.engine)
        key = db.transact(lambda conn: create_key(conn, program_id=program.id,
                                                  role=Role.ADMIN, name="bench", now=now)).key

        def spend(job: int) -> Callable[[], Any]:
            return lambda: db.transact(lambda conn: spend_points(
                conn, program, members[job % len(members)], points=COST, reason="bench spend",
                key=f"{run}-s{job}", actor=ACTOR, now=datetime.now(UTC)))

        def redeem(job: int) -> Callable[[], Any]:
            return lambda: db.transact(lambda conn: redemption.redeem(
                conn, program, members[job % len(members)], reward_id=REWARD["id"],
                key=f"{run}-r{job}", actor=ACTOR, now=datetime.now(UTC)))

        for title, make in (("spend_points()", spend), ("redemption.redeem()", redeem)):
            profile = profiled([make(job) for job in range(n + WARM)], statements)
            print(report([profile], f"in-process {title}, {args.db}", n, args.top,
                         statements.count))

        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        app = Profiled(create_app(db))
        with TestClient(app) as client:
            def post(path: str, body: dict[str, Any]) -> Callable[[], Any]:
                def call() -> None:
                    response = client.post(path, content=json.dumps(body), headers=headers)
                    assert response.status_code == 201, response.text
                return call

            for title, path, body in (
                    ("spends", "spends", lambda job: {"points": COST, "reason": "bench spend",
                                                     "idempotency_key": f"{run}-hs{job}"}),
                    ("redemptions", "redemptions", lambda job: {
                        "reward_id": REWARD["id"], "idempotency_key": f"{run}-hr{job}"})):
                calls = [post(f"/api/v1/members/{members[job % len(members)]}/{path}",
                              body(job)) for job in range(n + WARM)]
                for call in calls[:WARM]:
                    call()
                app.loop, app.pool = cProfile.Profile(), cProfile.Profile()
                statements.count = 0
                app.on = statements.on = True
                for call in calls[WARM:]:
                    call()
                app.on = statements.on = False
                print(report([app.loop, app.pool], f"POST /api/v1/members/{{id}}/{title} "
                             f"through create_app, {args.db}", n, args.top, statements.count))
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
