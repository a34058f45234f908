"""Reports kept while the database they were built from has not changed.

A report is a pure function of the program's rows, the program, the query and the
program's local day: asked again with all four the same, it is the same report. The
first three are easy to name; "the rows are the same" is named by the database's own
count of commits, read before the report reads anything:

- PostgreSQL: the current snapshot (``pg_current_snapshot()``: the transactions in
  progress and the next transaction id). It reads the same only if no transaction has
  committed since and none has begun to write, in any database of the server.
- SQLite: ``PRAGMA data_version`` of a connection kept for this alone, which never
  writes: it changes with every commit of any other connection, in this process or in
  another (a ``patron import`` while the server runs, another worker).

So a report is served from here only while nothing at all was committed since it was
built: a new ledger entry, order or member, a cancelled redemption, a published version,
anything. On a busy database that is seldom, and reports are built afresh; on a quiet
one (the console looked at, a dashboard reloaded) they are not built twice. Nothing is
kept where the database cannot say (a SQLite database in memory). The entries held per
process are bounded (``PATRON_REPORT_CACHE_ENTRIES``, 0: keep none).
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from patron.config import get_settings

_WATCHERS: dict[str, tuple[sqlite3.Connection, threading.Lock]] = {}
_WATCHERS_LOCK = threading.Lock()


def _sqlite_version(database: str) -> str | None:
    path = str(Path(database).resolve())
    with _WATCHERS_LOCK:
        watcher = _WATCHERS.get(path)
        if watcher is None:
            # a connection of its own, which only ever reads this pragma
            watcher = (sqlite3.connect(path, check_same_thread=False), threading.Lock())
            _WATCHERS[path] = watcher
    connection, lock = watcher
    with lock:
        version = connection.execute("PRAGMA data_version").fetchone()[0]
    return f"sqlite:{path}:{version}"


def data_version(conn: Connection) -> str | None:
    """The database's state as a key: equal only if nothing was committed in between;
    None where the database cannot say."""
    if conn.dialect.name == "postgresql":
        snapshot = conn.execute(text("SELECT pg_current_snapshot()::text")).scalar()
        url = conn.engine.url.render_as_string(hide_password=True)
        return f"postgresql:{url}:{snapshot}"
    if conn.dialect.name == "sqlite":
        database = conn.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return _sqlite_version(database)
    return None


class Kept:
    """The last reports built, by key, at most ``PATRON_REPORT_CACHE_ENTRIES`` of them.

    What comes out is the object that went in: callers read reports, never change them."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        if get_settings().report_cache_entries <= 0:
            return None
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any) -> None:
        room = get_settings().report_cache_entries
        with self._lock:
            if room <= 0:
                self._entries.clear()
                return
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > room:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


REPORTS = Kept()
