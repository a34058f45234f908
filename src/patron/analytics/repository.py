"""The analytics warehouse: one program's operational rows in an in-process DuckDB.

A report starts by taking a snapshot of the tables it needs, scoped to one program,
with every timestamp turned into the program's local time (months, days and "months
since join" are calendar ideas, and a purchase at 23:30 in New York belongs to that
day there, not to the next day in UTC). The reports' SQL (``queries``) then runs on
those local tables only, the same SQL whatever the operational database is.

Two ways in, the same tables out:

- ``scan``: DuckDB's sqlite / postgres scanner extensions read the database directly.
  They are loaded from the PyPI packages that ship them (``duckdb-extension-*``),
  by path, with auto-install and auto-load off, so nothing is ever downloaded.
- ``fetch``: the rows are read through the caller's SQLAlchemy connection and handed
  to DuckDB as a DataFrame. Slower, but needs no extension: used where no scanner is
  installed (they are built for linux x86_64 only) or the database lives in memory.
  ``PATRON_ANALYTICS_SOURCE=fetch`` (or ``scan``) forces one.

A SQLite file is scanned only in the analytics worker's process (``worker``): the
scanner's own copy of SQLite must not share a process with Patron's connections.
Where the database finds a table's rows faster than DuckDB would among the scanned
ones (an index, a join, one key of JSON), the table names the database's own SQL,
run through the scanner (``postgres_query``, ``sqlite_query``).

What a snapshot costs is the rows and columns it copies, so a report names the
columns it reads of each table (``order_id``, a string per order, is read only by
the report that looks orders up by it), and the scanning path keeps one DuckDB
database per operational database, with the extension loaded and the database
attached once per process (0.1-0.2 s a report otherwise): each snapshot is a
cursor of it, a connection of its own whose temporary tables no other request
sees and which go when it closes. Nothing is cached here but the attachment: every
snapshot reads the tables again (reports are kept only while the database is unchanged,
see ``cache``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from sqlalchemy import Boolean, Connection, Engine, Select, column, select, table
from sqlalchemy.engine import URL

from patron.analytics import worker
from patron.events.tables import events, order_lines, orders
from patron.ledger.tables import accounts, ledger_entries, lot_moves, lots
from patron.members.tables import members
from patron.rewards.tables import gift_grants, redemptions

SOURCE_ENV = "PATRON_ANALYTICS_SOURCE"
LOCAL_TS = "LOCAL_TS"
"""A timestamp column: stored in UTC, snapshotted as the program's local wall time."""


@dataclass(frozen=True)
class SnapshotTable:
    """One table of the snapshot: its columns, and how each source reads them."""

    name: str
    columns: tuple[tuple[str, str], ...]
    scan: str
    """DuckDB SQL over the attached database ``src``, selecting ``columns`` by name."""
    fetch: Callable[[int], Select[Any]]
    """The same rows as a SQLAlchemy select, for the fetch path."""
    needs: tuple[str, ...] = ()
    postgres: str | None = None
    """PostgreSQL's own SQL (``{program}`` filled in) where it does the work faster than
    DuckDB would on the scanned rows, e.g. reading one key out of JSON."""
    sqlite: str | None = None
    """SQLite's own SQL (``{program}`` filled in), run by the scanner's SQLite
    (``sqlite_query``), where an index finds a few rows that a scan, which reads every
    row of the file's table, would look for among millions. Its columns come back as
    text and are cast to the snapshot's types: only for small results."""


def _fetch_members(program_id: int) -> Select[Any]:
    return select(members.c.id, members.c.created_at, members.c.join_channel,
                  members.c.region, members.c.birthdate, members.c.status).where(
        members.c.program_id == program_id, members.c.status != "household")


def _fetch_orders(program_id: int) -> Select[Any]:
    o = orders.c
    return select(o.id, o.order_id, o.member_id, o.channel, o.total, o.occurred_at, o.store_id,
                  o.discount, o.coupon_value).where(o.program_id == program_id)


def _fetch_lines(program_id: int) -> Select[Any]:
    line = order_lines.c
    return select(line.order_pk, line.sku, line.department, line.category, line.subcategory,
                  line.brand, line.quantity, line.amount, line.discount).join(
        orders, orders.c.id == line.order_pk).where(orders.c.program_id == program_id)


# The segments' tables by name: segments sit above analytics (they read its figures),
# so the snapshot names the two tables it reads rather than importing their package.
_segments = table("segments", column("id"), column("program_id"), column("key"),
                  column("name"), column("kind"), column("active", Boolean))
_segment_members = table("segment_members", column("segment_id"), column("member_id"),
                         column("left_at"))


def _fetch_segments(program_id: int) -> Select[Any]:
    s = _segments.c
    return select(s.id, s.key, s.name, s.kind, s.active).where(s.program_id == program_id)


def _fetch_segment_members(program_id: int) -> Select[Any]:
    m, s = _segment_members.c, _segments.c
    return select(m.segment_id, m.member_id).join(_segments, s.id == m.segment_id).where(
        s.program_id == program_id, m.left_at.is_(None))


def _fetch_events(program_id: int) -> Select[Any]:
    return select(events.c.member_id, events.c.type, events.c.channel,
                  events.c.occurred_at).where(events.c.program_id == program_id,
                                              events.c.type != "purchase")


def _fetch_ledger(program_id: int) -> Select[Any]:
    e = ledger_entries
    return select(e.c.id, e.c.member_id, e.c.kind, e.c.points, e.c.occurred_at,
                  e.c.details["rule"].as_string().label("rule")).where(
        e.c.program_id == program_id, e.c.kind != "release")


def _fetch_spends(program_id: int) -> Select[Any]:
    e = ledger_entries
    return select(e.c.id, e.c.member_id, (-e.c.points).label("points"), e.c.occurred_at,
                  e.c.order_id, e.c.reason).where(e.c.program_id == program_id,
                                                  e.c.kind == "spend")


def _fetch_redemptions(program_id: int) -> Select[Any]:
    r = redemptions.c
    return select(r.member_id, r.reward_id, r.reward_type, r.reward_name, r.cost_points,
                  r.entry_id, r.cause, r.created_at, r.cancelled_at).where(
        r.program_id == program_id)


def _fetch_gift_grants(program_id: int) -> Select[Any]:
    g = gift_grants.c
    return select(g.member_id, g.reward_id, g.reward_name, g.created_at, g.cancelled_at).where(
        g.program_id == program_id)


def _fetch_lots(program_id: int) -> Select[Any]:
    return select(lots.c.id, accounts.c.member_id, lots.c.points, lots.c.remaining,
                  lots.c.state, lots.c.earned_at).join(
        accounts, accounts.c.id == lots.c.account_id).where(lots.c.program_id == program_id)


def _fetch_expiries(program_id: int) -> Select[Any]:
    e = ledger_entries
    return select(lot_moves.c.lot_id, (-lot_moves.c.points).label("points")).join(
        e, e.c.id == lot_moves.c.entry_id).where(e.c.program_id == program_id,
                                                 e.c.kind == "expire")


def _fetch_accounts(program_id: int) -> Select[Any]:
    return select(accounts.c.member_id, accounts.c.available, accounts.c.pending).where(
        accounts.c.program_id == program_id)


TABLES: dict[str, SnapshotTable] = {t.name: t for t in (
    SnapshotTable(
        "members",
        (("id", "BIGINT"), ("created_at", LOCAL_TS), ("join_channel", "VARCHAR"),
         ("region", "VARCHAR"), ("birthdate", "DATE"), ("status", "VARCHAR")),
        "SELECT id, created_at, join_channel, region, birthdate, status "
        "FROM src.members WHERE program_id = $program AND status <> 'household'",
        _fetch_members),
    SnapshotTable(
        "orders",
        (("id", "BIGINT"), ("order_id", "VARCHAR"), ("member_id", "BIGINT"),
         ("channel", "VARCHAR"), ("total", "BIGINT"), ("occurred_at", LOCAL_TS),
         ("store_id", "VARCHAR"), ("discount", "BIGINT"), ("coupon_value", "BIGINT")),
        "SELECT id, order_id, member_id, channel, total, occurred_at, store_id, discount, "
        "coupon_value FROM src.orders WHERE program_id = $program", _fetch_orders),
    SnapshotTable(
        # the program's orders are found in the database, not in the snapshot's orders:
        # the lines are then read at the same time as the orders, not after them
        "order_lines",
        (("order_pk", "BIGINT"), ("sku", "VARCHAR"), ("department", "VARCHAR"),
         ("category", "VARCHAR"), ("subcategory", "VARCHAR"), ("brand", "VARCHAR"),
         ("quantity", "BIGINT"), ("amount", "BIGINT"), ("discount", "BIGINT")),
        "SELECT l.order_pk, l.sku, l.department, l.category, l.subcategory, l.brand, "
        "l.quantity, l.amount, l.discount FROM src.order_lines l "
        "JOIN (SELECT id FROM src.orders WHERE program_id = $program) o ON o.id = l.order_pk",
        # (on PostgreSQL too: its own join of the lines to the orders, 1.75M lines of 1M
        # orders, kept the behaviour report waiting longer than the scanner's reading)
        _fetch_lines),
    SnapshotTable(
        "segments",
        (("id", "BIGINT"), ("key", "VARCHAR"), ("name", "VARCHAR"), ("kind", "VARCHAR"),
         ("active", "BOOLEAN")),
        "SELECT id, key, name, kind, active FROM src.segments WHERE program_id = $program",
        _fetch_segments),
    SnapshotTable(
        # a segment's current members: those who have not left it
        "segment_members",
        (("segment_id", "BIGINT"), ("member_id", "BIGINT")),
        "SELECT m.segment_id, m.member_id FROM src.segment_members m "
        "JOIN segments s ON s.id = m.segment_id WHERE m.left_at IS NULL",
        _fetch_segment_members, needs=("segments",)),
    SnapshotTable(
        # purchases are the orders; only the other events are read again
        "events",
        (("member_id", "BIGINT"), ("type", "VARCHAR"), ("channel", "VARCHAR"),
         ("occurred_at", LOCAL_TS)),
        "SELECT member_id, type, channel, occurred_at FROM src.events "
        "WHERE program_id = $program AND type <> 'purchase'", _fetch_events,
        # the databases' own plans skip the purchases faster than the scanner's filter;
        # SQLite's reads the other types' ranges of its (program, type, time) index only
        postgres="SELECT member_id, type, channel, occurred_at FROM events "
                 "WHERE program_id = {program} AND type <> 'purchase'",
        sqlite="SELECT member_id, type, channel, occurred_at FROM events "
               "WHERE program_id = {program} AND (type < 'purchase' OR type > 'purchase')"),
    SnapshotTable(
        "ledger",
        (("id", "BIGINT"), ("member_id", "BIGINT"), ("kind", "VARCHAR"), ("points", "BIGINT"),
         ("occurred_at", LOCAL_TS), ("rule", "VARCHAR")),
        # the rule is only looked up on earns: JSON is the costly part of a scan
        "SELECT id, member_id, kind, points, occurred_at, "
        "CASE WHEN kind = 'earn' THEN json_extract_string(details, '$.rule') END AS rule "
        "FROM src.ledger_entries WHERE program_id = $program AND kind <> 'release'",
        _fetch_ledger,
        postgres="SELECT id, member_id, kind, points, occurred_at, "
                 "CASE WHEN kind = 'earn' THEN details->>'rule' END AS rule "
                 "FROM ledger_entries WHERE program_id = {program} AND kind <> 'release'"),
    SnapshotTable(
        "spends",
        (("id", "BIGINT"), ("member_id", "BIGINT"), ("points", "BIGINT"),
         ("occurred_at", LOCAL_TS), ("order_id", "VARCHAR"), ("reason", "VARCHAR")),
        "SELECT id, member_id, -points AS points, occurred_at, order_id, reason "
        "FROM src.ledger_entries WHERE program_id = $program AND kind = 'spend'", _fetch_spends,
        postgres="SELECT id, member_id, -points AS points, occurred_at, order_id, reason "
                 "FROM ledger_entries WHERE program_id = {program} AND kind = 'spend'"),
    SnapshotTable(
        # the catalog's redemptions; entry_id is the points spend that paid for each
        "reward_redemptions",
        (("member_id", "BIGINT"), ("reward_id", "VARCHAR"), ("reward_type", "VARCHAR"),
         ("reward_name", "VARCHAR"), ("cost_points", "BIGINT"), ("entry_id", "BIGINT"),
         ("cause", "VARCHAR"), ("created_at", LOCAL_TS), ("cancelled_at", LOCAL_TS)),
        "SELECT member_id, reward_id, reward_type, reward_name, cost_points, entry_id, cause, "
        "created_at, cancelled_at FROM src.redemptions WHERE program_id = $program",
        _fetch_redemptions),
    SnapshotTable(
        "gift_grants",
        (("member_id", "BIGINT"), ("reward_id", "VARCHAR"), ("reward_name", "VARCHAR"),
         ("created_at", LOCAL_TS), ("cancelled_at", LOCAL_TS)),
        "SELECT member_id, reward_id, reward_name, created_at, cancelled_at "
        "FROM src.gift_grants WHERE program_id = $program", _fetch_gift_grants),
    SnapshotTable(
        "lots",
        (("id", "BIGINT"), ("member_id", "BIGINT"), ("points", "BIGINT"),
         ("remaining", "BIGINT"), ("state", "VARCHAR"), ("earned_at", LOCAL_TS)),
        "SELECT l.id, a.member_id, l.points, l.remaining, l.state, l.earned_at "
        "FROM src.lots l JOIN src.accounts a ON a.id = l.account_id "
        "WHERE l.program_id = $program", _fetch_lots),
    SnapshotTable(
        # the expiry entries are found in the database, not in the snapshot's ledger: the
        # moves are then read at the same time as the ledger, not after it
        "lot_expiries",
        (("lot_id", "BIGINT"), ("points", "BIGINT")),
        "SELECT m.lot_id, -m.points AS points FROM src.lot_moves m "
        "JOIN (SELECT id FROM src.ledger_entries WHERE program_id = $program "
        "AND kind = 'expire') e ON e.id = m.entry_id", _fetch_expiries,
        postgres="SELECT m.lot_id, -m.points AS points FROM lot_moves m "
                 "JOIN ledger_entries e ON e.id = m.entry_id "
                 "WHERE e.program_id = {program} AND e.kind = 'expire'"),
    SnapshotTable(
        "accounts",
        (("member_id", "BIGINT"), ("available", "BIGINT"), ("pending", "BIGINT")),
        "SELECT member_id, available, pending FROM src.accounts WHERE program_id = $program",
        _fetch_accounts),
)}


def _extension_path(package: str, name: str) -> Path | None:
    """The scanner binary a PyPI package ships for this exact DuckDB version."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    return path if path.is_file() else None


def _libpq_quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _postgres_dsn(url: URL) -> str:
    parts = {"host": url.host or "localhost", "port": url.port or 5432,
             "user": url.username, "password": url.password, "dbname": url.database}
    parts.update({k: v for k, v in url.query.items() if isinstance(v, str)})
    return " ".join(f"{k}={_libpq_quote(v)}" for k, v in parts.items() if v is not None)


def _scan_target(conn: Connection | Engine) -> tuple[str, str, Path] | None:
    """``(type, attach string, extension)`` when this database can be scanned."""
    url = conn.engine.url
    if conn.dialect.name == "sqlite":
        path = url.database
        extension = _extension_path("duckdb_extension_sqlite_scanner", "sqlite_scanner")
        if not path or path == ":memory:" or path.startswith("file:") or extension is None:
            return None
        return "sqlite", str(Path(path).resolve()), extension
    if conn.dialect.name == "postgresql":
        extension = _extension_path("duckdb_extension_postgres_scanner", "postgres_scanner")
        return ("postgres", _postgres_dsn(url), extension) if extension else None
    return None


def scans_apart(conn: Connection | Engine, source: str | None) -> bool:
    """Whether a snapshot would scan a SQLite file: it is then taken in the analytics
    worker's process, never beside Patron's own SQLite connections (see ``worker``)."""
    wanted = (source or os.environ.get(SOURCE_ENV) or "auto").lower()
    target = _scan_target(conn) if wanted in ("auto", "scan") else None
    return target is not None and target[0] == "sqlite" and not worker.IN_WORKER


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _casts(columns: Sequence[tuple[str, str]], *, fetched: bool = False,
           text: bool = False) -> str:
    """Typed columns; timestamps as naive UTC (``epoch_us`` reads naive UTC and aware
    values alike, and is plain arithmetic where a cast would go through ICU). Fetched
    frames hold aware timestamps, or untyped NULLs when empty: those are cast first;
    SQLite's own queries give text (naive UTC, as Patron stores it there).
    Only these columns are read: DuckDB prunes the others out of the scan below."""
    stamp = ("make_timestamp(epoch_us(CAST({0} AS TIMESTAMPTZ)))" if fetched
             else "make_timestamp(epoch_us(CAST({0} AS TIMESTAMP)))" if text
             else "make_timestamp(epoch_us({0}))")
    return ", ".join(
        f"{stamp.format(name)} AS {name}" if kind == LOCAL_TS
        else f"CAST({name} AS {kind}) AS {name}" for name, kind in columns)


Wanted = Mapping[str, Sequence[str] | None] | Iterable[str]
"""Tables to snapshot: names (every column), or each name with the columns it needs
(``None`` for all of them)."""


def _wanted(tables: Wanted) -> dict[str, tuple[str, ...] | None]:
    if isinstance(tables, Mapping):
        return {name: None if cols is None else tuple(cols) for name, cols in tables.items()}
    return {name: None for name in tables}


def _with_needs(wanted: dict[str, tuple[str, ...] | None]) -> dict[str, tuple[str, ...] | None]:
    """The tables asked for and every table they depend on (that one with all columns)."""
    wanted, unseen = dict(wanted), list(wanted)
    while unseen:
        for needed in TABLES[unseen.pop()].needs:
            if needed not in wanted:
                wanted[needed] = None
                unseen.append(needed)
    return wanted


def with_needs(tables: Wanted) -> set[str]:
    """The names of the tables a snapshot of ``tables`` holds."""
    return set(_with_needs(_wanted(tables)))


_SHARED: dict[tuple[str, str], duckdb.DuckDBPyConnection] = {}
_SHARED_LOCK = threading.Lock()
DUCK_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
               "allow_community_extensions": False}


def _attached(kind: str, where: str, extension: Path) -> duckdb.DuckDBPyConnection:
    """A new connection to this process's DuckDB with ``where`` attached as ``src``.

    The attachment reads the database afresh on every statement (the scanners open
    their own transaction on it each time), so sharing it holds no data back."""
    with _SHARED_LOCK:
        shared = _SHARED.get((kind, where))
        if shared is None:
            shared = duckdb.connect(config=DUCK_CONFIG)
            shared.execute(f"LOAD {_quote(str(extension))}")
            shared.execute(f"ATTACH {_quote(where)} AS src (TYPE {kind}, READ_ONLY)")
            _SHARED[(kind, where)] = shared
        return shared.cursor()


OFFSET_BUCKET = "INTERVAL 15 MINUTE"
"""Every timezone's offset changes only at a quarter hour of UTC, so one lookup per
quarter hour that occurs converts a million timestamps for the price of a join,
where converting each one through ICU costs about half a second per million."""


class Warehouse:
    """A DuckDB connection holding one program's snapshot; close it when done.

    The snapshot's tables live in a schema of their own (``snap_…``, first on the
    connection's search path), not among its temporary tables, so that several
    connections can fill them at once: on the scanning path every table a report
    needs is read by a connection of its own, in parallel (those a table depends on
    first). The tables the reports derive from them stay temporary."""

    def __init__(self, conn: Connection | Engine, program_id: int, timezone: str, *,
                 source: str | None = None) -> None:
        self._conn = conn
        self.program_id = program_id
        self.timezone = timezone
        wanted = (source or os.environ.get(SOURCE_ENV) or "auto").lower()
        target = _scan_target(conn) if wanted in ("auto", "scan") else None
        if wanted == "scan" and target is None:
            raise RuntimeError(f"{SOURCE_ENV}=scan but no scanner extension fits this database")
        if target is not None and target[0] == "sqlite" and not worker.IN_WORKER:
            raise RuntimeError("the SQLite scanner runs in the analytics worker's process only "
                               "(patron.analytics.worker)")
        self.source = "scan" if target else "fetch"
        self._kind = target[0] if target else None
        self._target = target
        self.duck = _attached(*target) if target else duckdb.connect(config=DUCK_CONFIG)
        self.schema = f"snap_{uuid.uuid4().hex}"
        self.duck.execute(f"CREATE SCHEMA {self.schema}")
        self._prepare(self.duck)
        self.loaded: set[str] = set()
        self.columns: dict[str, tuple[str, ...]] = {}

    def _prepare(self, duck: duckdb.DuckDBPyConnection) -> None:
        duck.execute("SET TimeZone = 'UTC'")
        duck.execute(f"SET search_path = {_quote(self.schema)}")

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.duck.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            self.duck.close()

    def load(self, tables: Wanted) -> Warehouse:
        """Snapshot the named tables (and what they depend on) for this program, each
        with the columns asked for; a table a later one depends on, with all of its."""
        wanted = _with_needs(_wanted(tables))
        while pending := {n: c for n, c in wanted.items() if n not in self.loaded}:
            ready = {n: c for n, c in pending.items()
                     if all(d in self.loaded for d in TABLES[n].needs)}
            if self.source == "scan" and len(ready) > 1:
                with ThreadPoolExecutor(max_workers=len(ready)) as pool:
                    for done in [pool.submit(self._load_apart, n, c) for n, c in ready.items()]:
                        done.result()
            else:
                for name, cols in ready.items():
                    self._load(self.duck, name, cols)
            for name, cols in ready.items():
                self.loaded.add(name)
                self.columns[name] = tuple(
                    n for n, _ in TABLES[name].columns if cols is None or n in cols)
        return self

    def _load_apart(self, name: str, cols: tuple[str, ...] | None) -> None:
        assert self._target is not None
        duck = _attached(*self._target)
        try:
            self._prepare(duck)
            self._load(duck, name, cols)
        finally:
            duck.close()

    def _load(self, duck: duckdb.DuckDBPyConnection, name: str,
              cols: tuple[str, ...] | None) -> None:
        table = TABLES[name]
        columns = [(n, kind) for n, kind in table.columns if cols is None or n in cols]
        target = f"{self.schema}.{name}"
        if self.source == "scan":
            scan, own = table.scan, {"postgres": table.postgres,
                                     "sqlite": table.sqlite}.get(self._kind or "")
            if own:
                query = own.format(program=int(self.program_id))
                scan = f"SELECT * FROM {self._kind}_query('src', {_quote(query)})"
            casts = _casts(columns, text=bool(own) and self._kind == "sqlite")
            sql = f"CREATE TABLE {target} AS SELECT {casts} FROM ({scan})"
            duck.execute(sql, _used(sql, {"program": self.program_id}))
        else:
            import pandas as pd  # only this fallback needs pandas: the scanners never load it

            names = [n for n, _ in table.columns]
            rows = self._conn.execute(table.fetch(self.program_id)).all()
            duck.register("fetched", pd.DataFrame.from_records(rows, columns=names))
            duck.execute(f"CREATE TABLE {target} AS "
                         f"SELECT {_casts(columns, fetched=True)} FROM fetched")
            duck.unregister("fetched")
        self._localise(duck, target, columns)

    def _localise(self, duck: duckdb.DuckDBPyConnection, target: str,
                  columns: Sequence[tuple[str, str]]) -> None:
        """Turn the table's UTC timestamps into the program's wall-clock time."""
        if self.timezone == "UTC":
            return
        for name, kind in columns:
            if kind != LOCAL_TS:
                continue
            column = f"{target}.{name}"
            sql = ("CREATE OR REPLACE TEMP TABLE tz_offsets AS SELECT b, "
                   "timezone($tz, CAST(b AS TIMESTAMPTZ)) - b AS shift FROM "
                   f"(SELECT DISTINCT time_bucket({OFFSET_BUCKET}, {column}) AS b "
                   f"FROM {target} WHERE {column} IS NOT NULL)")
            duck.execute(sql, {"tz": self.timezone})
            duck.execute(f"UPDATE {target} SET {name} = {column} + o.shift "
                         f"FROM tz_offsets o WHERE time_bucket({OFFSET_BUCKET}, {column}) = o.b")

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.duck.execute(sql, _used(sql, params))

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self.duck.execute(sql, _used(sql, params)).fetchall()

    def arrays(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """The result as one NumPy array per column, by name."""
        found = self.duck.execute(sql, _used(sql, params)).fetchnumpy()
        return {name: np.asarray(column) for name, column in found.items()}

    def dicts(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        cursor = self.duck.execute(sql, _used(sql, params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def one(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        found = self.dicts(sql, params)
        return found[0] if found else {}


def _used(sql: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """DuckDB refuses named parameters a statement does not use: pass only those."""
    return {k: v for k, v in (params or {}).items() if re.search(rf"\${k}\b", sql)}


def snapshot(conn: Connection | Engine, program_id: int, timezone: str, tables: Wanted, *,
             source: str | None = None) -> Warehouse:
    warehouse = Warehouse(conn, program_id, timezone, source=source)
    try:
        return warehouse.load(tables)
    except BaseException:
        warehouse.close()
        raise
