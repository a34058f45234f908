"""What checking the API key on every request costs (revocation and expiry seen at once).

Times N authenticated ``GET /api/v1/members/{id}`` against N ``GET /healthz`` (no key,
no database) in the same run, in CPU seconds of this process (the test client runs the
app in-process), on SQLite or, with ``--db``, in a new database on that PostgreSQL server
(dropped afterwards).

    PYTHONPATH=src python benchmarks/auth_per_request.py [--db postgresql+psycopg://…] [-n 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from patron.api.app import create_app
from patron.auth.service import Role, create_key
from patron.clock import SystemClock
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.program.domain import ProgramSettings
from patron.program.service import create_program


def _timed(client: TestClient, n: int, path: str, headers: dict[str, str]) -> float:
    start = time.process_time()
    for _ in range(n):
        assert client.get(path, headers=headers).status_code == 200
    return (time.process_time() - start) / n * 1e6


@contextlib.contextmanager
def _database(server: str | None) -> Iterator[str]:
    if server is None:
        yield str(Path(tempfile.mkdtemp()) / "bench.db")
        return
    name = f"patron_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    # the limiter's cost is counted, its limit is not reached
    os.environ.setdefault("PATRON_RATE_LIMIT", "1000000/minute")
    with _database(args.db) as url:
        run(url, args.n)


def run(url: str, n: int) -> None:
    db = create_database(url)
    upgrade(db)
    now = SystemClock().now()
    slug = f"bench-{int(time.time() * 1000)}"
    program = db.transact(lambda c: create_program(c, slug=slug, name="b",
                                                   settings=ProgramSettings(), now=now))
    key = db.transact(lambda c: create_key(c, program_id=program.id, role=Role.ADMIN,
                                           name="bench", now=now)).key
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(db)) as client:
        member = client.post("/api/v1/members", headers=auth, json={
            "identities": [{"type": "external_id", "value": slug}]}).json()
        path = f"/api/v1/members/{member['id']}"
        _timed(client, 200, path, auth)
        base = _timed(client, n, "/healthz", {})
        patron = _timed(client, n, path, auth)
    db.dispose()
    print(f"{db.dialect}: GET member with key check {patron:7.0f} µs CPU/request; "
          f"baseline GET /healthz {base:7.0f} µs CPU/request (n={n})")


if __name__ == "__main__":
    main()
