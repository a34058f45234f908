"""Engines and the transaction boundary.

The concurrency recipe (see DESIGN.md): on SQLite, WAL + ``BEGIN IMMEDIATE`` for
write transactions so two writers never interleave a read-then-write; on
PostgreSQL, guarded updates on the account row (which also lock it). Both
retry a transaction that lost a deadlock or found the database locked.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from patron.config import normalise_database_url
from patron.errors import TransientDatabaseError

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
_TRANSIENT_PG_CODES = {"40001", "40P01", "55P03"}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _is_transient(exc: DBAPIError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in _TRANSIENT_PG_CODES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(orig)


class Database:
    """An engine plus the one way Patron runs work: a transaction with retries."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def transact(self, work: Callable[[Connection], T], *, write: bool = True,
                 attempts: int = 8) -> T:
        """Run ``work`` in one transaction, committing once at the end.

        Services never commit; this is the request/command/job scope. A
        deadlock or lock time-out rolls everything back and runs ``work`` again,
        which is safe because ``work`` only touches the database.
        """
        options = {} if write else {"sqlite_begin": "DEFERRED"}
        for attempt in range(1, attempts + 1):
            try:
                with self.engine.connect().execution_options(**options) as conn:
                    with conn.begin():
                        return work(conn)
            except IntegrityError:
                # Two requests raced to create the same unique row; running again
                # lets the loser see the winner's row and answer accordingly.
                if attempt >= 3:
                    raise
            except DBAPIError as exc:
                if not _is_transient(exc) or attempt == attempts:
                    if _is_transient(exc):
                        raise TransientDatabaseError("the database stayed busy; retry") from exc
                    raise
                time.sleep(random.uniform(0.002, 0.02) * attempt)
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Connection], T]) -> T:
        return self.transact(work, write=False)

    def dispose(self) -> None:
        self.engine.dispose()


def create_database(url: str, **engine_kwargs: object) -> Database:
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=8,
            max_overflow=32,
            **engine_kwargs,
        )
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True,
                               **engine_kwargs)
    return Database(engine)
