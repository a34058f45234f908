"""Shared fixtures: every service and API test runs on SQLite and on PostgreSQL.

Each test gets its own program, so tests never see each other's rows and the
databases are created (and migrated) once per session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from patron.clock import FrozenClock
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.program.domain import ProgramSettings
from patron.program.service import Program, create_program

# Timing is not correctness: a loaded machine must not fail property tests.
settings.register_profile("patron", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("patron")

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def _postgres_server_url() -> str | None:
    url = os.environ.get("PATRON_TEST_DATABASE_URL", DEFAULT_PG)
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return url
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"PostgreSQL at {url} is required under CI: {exc}") from exc
        return None


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    server = _postgres_server_url()
    if server is None:
        pytest.skip("no PostgreSQL server reachable (set PATRON_TEST_DATABASE_URL)")
    name = f"patron_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'patron.db'}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    url = request.getfixturevalue(f"{request.param}_url")
    db = create_database(url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


def make_program(db: Database, clock: FrozenClock, **settings: object) -> Program:
    slug = f"p-{uuid.uuid4().hex[:12]}"
    return db.transact(lambda conn: create_program(
        conn, slug=slug, name="Test program", settings=ProgramSettings(**settings),
        now=clock.now()))


@pytest.fixture
def program(database: Database, clock: FrozenClock) -> Program:
    return make_program(database, clock, pending_days=0, expiry={"days": None})


class Api:
    """An HTTP client for one program, with a key of the chosen role."""

    def __init__(self, client, db: Database, program: Program, clock: FrozenClock) -> None:
        self.client, self.db, self.program, self.clock = client, db, program, clock
        self.keys: dict[str, str] = {}

    def key(self, role: str) -> str:
        from patron.auth.service import Role, create_key

        if role not in self.keys:
            self.keys[role] = self.db.transact(lambda conn: create_key(
                conn, program_id=self.program.id, role=Role(role), name="test",
                now=self.clock.now())).key
        return self.keys[role]

    def request(self, method: str, path: str, *, role: str = "admin", **kwargs):
        headers = {"Authorization": f"Bearer {self.key(role)}", **kwargs.pop("headers", {})}
        return self.client.request(method, f"/api/v1{path}", headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.request("PATCH", path, **kwargs)


@pytest.fixture
def app(database: Database, clock: FrozenClock):
    from patron.api.app import create_app

    return create_app(database, clock)


@pytest.fixture
def api(app, database: Database, program: Program, clock: FrozenClock) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, database, program, clock)
