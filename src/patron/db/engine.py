"""Engines and the transaction boundary.

The concurrency recipe (see DESIGN.md): on SQLite, WAL + ``BEGIN IMMEDIATE`` for
write transactions so two writers never interleave a read-then-write; on
PostgreSQL, guarded updates on the account row (which also lock it). Both
retry a transaction that lost a deadlock or found the database locked.
"""

from __future__ import annotations

import contextlib
import keyword
import random
import threading
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from psycopg import _queries as psycopg_queries
from sqlalchemy import (ARRAY, JSON, Column, ColumnElement, Connection, Engine, String, Table,
                        Select, Text, bindparam, cast, create_engine, event, func, select, true)
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from patron.config import normalise_database_url
from patron.errors import TransientDatabaseError

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
_TRANSIENT_PG_CODES = {"40001", "40P01", "55P03"}
POOL_RECYCLE_SECONDS = 1800
"""PostgreSQL connections are replaced after this long, before a server or proxy drops them."""
BULK_ROWS = 10
"""From this many rows on, an insert goes through the driver's bulk path (see insert_rows)."""


# psycopg turns a statement's placeholders into PostgreSQL's with a regular expression on
# each execution, and keeps the result only for statements up to 4 KB and 50 parameters
# (its guard against ORM statements that differ every time). Patron builds its statements
# once: the plain merge (patron.flows.merging_plain, 12.7 KB) spent 0.4 ms of CPU there on
# every run, and a few rows inserted together (``_few``: three ledger entries are 60
# parameters) went through the expression on every event. Bulk statements, whose text
# varies, take arrays or COPY (see one_of, insert_rows).
CACHED_STATEMENT_BYTES = 32_768
CACHED_STATEMENT_PARAMS = 256
if getattr(psycopg_queries, "MAX_CACHED_STATEMENT_LENGTH", CACHED_STATEMENT_BYTES) < \
        CACHED_STATEMENT_BYTES:
    psycopg_queries.MAX_CACHED_STATEMENT_LENGTH = CACHED_STATEMENT_BYTES
if getattr(psycopg_queries, "MAX_CACHED_STATEMENT_PARAMS", CACHED_STATEMENT_PARAMS) < \
        CACHED_STATEMENT_PARAMS:
    psycopg_queries.MAX_CACHED_STATEMENT_PARAMS = CACHED_STATEMENT_PARAMS


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


class ReadChanged(Exception):
    """A write found that another transaction changed, since this one read it unlocked,
    a value the work decided on: ``transact`` runs the work again, reading afresh.

    For a value that nearly every request reads and few change in a way that matters
    (a promotion's budget): locking it would serialise every request behind it.
    """


def _is_transient(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        # A pooled connection the server had closed (a restart, an idle time-out): the
        # pool has dropped it, and the work runs again on a new one. This replaces a
        # ping before every checkout, a round trip per request.
        return True
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
        # SQLite takes one writer at a time. This process's writers queue here, where the
        # next one starts the moment the last commits; waiting in SQLite's busy handler
        # instead sleeps up to 100 ms between tries (single-event ingest from 4 clients:
        # p99 767 ms). Other processes still meet the busy timeout.
        self._sqlite_writers = threading.RLock()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def transact(self, work: Callable[[Connection], T], *, write: bool = True,
                 attempts: int = 8, autocommit: bool = False) -> T:
        """Run ``work`` in one transaction, committing once at the end.

        Services never commit; this is the request/command/job scope. A
        deadlock or lock time-out rolls everything back and runs ``work`` again,
        which is safe because ``work`` only touches the database. ``autocommit``:
        see ``lookup``.
        """
        options: dict[str, Any] = {} if write else {"sqlite_begin": "DEFERRED"}
        if autocommit and not self.is_sqlite:
            options = {"isolation_level": "AUTOCOMMIT"}
        turn = self._sqlite_writers if write and self.is_sqlite else contextlib.nullcontext()
        for attempt in range(1, attempts + 1):
            try:
                with turn, self.engine.connect().execution_options(**options) as conn:
                    with conn.begin():
                        return work(conn)
            except IntegrityError:
                # Two requests raced to create the same unique row; running again
                # lets the loser see the winner's row and answer accordingly.
                if attempt >= 3:
                    raise
            except ReadChanged as exc:
                if attempt == attempts:
                    raise TransientDatabaseError("the database stayed busy; retry") from exc
            except DBAPIError as exc:
                if not _is_transient(exc) or attempt == attempts:
                    if _is_transient(exc):
                        raise TransientDatabaseError("the database stayed busy; retry") from exc
                    raise
                time.sleep(random.uniform(0.002, 0.02) * attempt)
        raise AssertionError("unreachable")

    def read(self, work: Callable[[Connection], T]) -> T:
        return self.transact(work, write=False)

    def lookup(self, work: Callable[[Connection], T]) -> T:
        """A read of one statement (or of statements that need not agree with each other),
        outside any transaction on PostgreSQL: psycopg in autocommit sends no ``BEGIN``
        and no ``COMMIT``, two of the three round trips of a one-statement ``read``. What
        every member-path request asks before its work (the program row and the member's
        merge). Under READ COMMITTED each statement sees the latest commits either way;
        SQLite reads in a transaction as ``read`` does.
        """
        return self.transact(work, write=False, autocommit=True)

    def refresh_statistics(self, tables: Sequence[Table]) -> None:
        """``ANALYZE`` these tables on PostgreSQL, after a bulk load (an import).

        Until autovacuum gets to a table a load has filled (a minute or more), the planner
        reads it by its old statistics: a program's 100,000 new members read as a handful,
        and a member looked up by id may go through the match keys' index, reading them
        all (``benchmarks/profiles/single_event.md``). SQLite is left as it is: its planner
        takes an index's selectivity for granted until ``ANALYZE`` is first run, and
        running it would change the plans every test and benchmark has measured.

        A table's JSON documents (an event's data and outcome) are left out: no query
        filters or joins on them, and their statistics took two thirds of the time (an
        order's lines read back from every sampled row); autovacuum gets to them later."""
        if self.dialect == "postgresql" and tables:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE " + ", ".join(
                    _analysed(conn.dialect.identifier_preparer, t) for t in tables))
                conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


def _analysed(quote: Any, table: Table) -> str:
    """A table for ``ANALYZE``, with its columns when some are JSON documents (left out)."""
    kept = [c for c in table.columns if not isinstance(c.type, JSON)]
    name = quote.format_table(table)
    if len(kept) == len(table.columns):
        return name
    return f"{name} ({', '.join(quote.quote(c.name) for c in kept)})"


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
        engine = create_engine(url, **{"pool_size": 10, "max_overflow": 30,
                                       "pool_recycle": POOL_RECYCLE_SECONDS, **engine_kwargs})
    return Database(engine)


# Bulk statements. psycopg turns placeholders into PostgreSQL's in Python, so a statement
# with thousands of them (SQLAlchemy's multi-row INSERT, a long IN list) spends most of its
# time there; and on SQLite SQLAlchemy inserts rows one statement each when it must return
# their ids in order. Measured on 1,000-event ingest batches, the helpers below made the
# database part of a batch several times faster on both databases.

def one_of(conn: Connection, column: Column[Any], values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``IN (SELECT unnest(array))``, one parameter.

    The semi-join keeps the lookup an index probe per value whatever the plan: with
    ``= ANY(array)`` PostgreSQL compared each row with every value (80 ms instead of 5 ms
    for 1,000 values over 5,000 orders). Strings go as ``TEXT[]``, which the column's
    index takes as it is.
    """
    values = list(values)
    if conn.dialect.name == "postgresql":
        element = Text() if isinstance(column.type, String) else column.type
        return column.in_(select(func.unnest(bindparam(None, values, type_=ARRAY(element)))))
    return column.in_(values)


def one_of_param(dialect: str, column: Column[Any], name: str, few: int = 0
                 ) -> ColumnElement[bool]:
    """``one_of`` with the values in the parameter ``name``, for a statement built once;
    with ``few``, that many values in scalar parameters instead (``one_of_few``).

    Building a joined select costs more Python than running it; a repository that
    runs one per event builds it at import, one per dialect (``DIALECTS``).

    PostgreSQL may plan such a statement anew on every run when it is prepared: a custom
    plan counts the array's values, a generic plan takes ten, and for some joins the
    custom plan always looks the cheaper (``benchmarks/statement_times.py`` lists them).
    Hiding the array from both (behind ``OFFSET 0``) was tried: the generic plan it kept
    for an event's tier states ran slower than planning anew. Statements for one or two
    members use ``one_of_few`` instead (``one_of_rows`` picks between the two).
    """
    if few:
        return one_of_few(column, few, name)
    if dialect == "postgresql":
        element = Text() if isinstance(column.type, String) else column.type
        return column.in_(select(func.unnest(bindparam(name, type_=ARRAY(element)))))
    # on SQLite the list goes as one JSON array (``json_each``), so the statement's text
    # is the same whatever the count: an expanding list is rendered anew on every call
    return column.in_(select(func.json_each(bindparam(name, type_=JSON)).table_valued(
        "value").c.value))


def probe_each(dialect: str, query: Select[Any], column: Column[Any], name: str,
               few: int = 0, *, scope: ColumnElement[bool] | None = None) -> Select[Any]:
    """``query`` where ``column`` is one of the values in the parameter ``name``, for a
    column that has one row per value under ``query``'s own conditions (a unique key):
    ``one_of_param``, except that on PostgreSQL each value looks its row up on its own
    (``LATERAL``, ``LIMIT 1``). The planner cannot then join the values to a scan of
    every row the other conditions match, which it does for a table never analysed (an
    import's, until it ends: no statistics, so a program's orders look like a handful),
    and which grows with the table. With ``few``, ``one_of_few``'s scalar parameters.

    ``scope``: for a column unique on its own (a primary key), a condition each row found
    must meet, checked once it is found: inside the lookup, a table without statistics
    had PostgreSQL probe through an index of the scope's column, reading every row of the
    program for each value."""
    if few or dialect != "postgresql":
        return query.where(*(() if scope is None else (scope,)),
                           one_of_param(dialect, column, name, few))
    element = Text() if isinstance(column.type, String) else column.type
    values = func.unnest(bindparam(name, type_=ARRAY(element))).table_valued(
        "value").render_derived(name="wanted")
    inner = query.where(column == values.c.value).limit(1)
    if scope is None:
        found = inner.lateral("found")
        return select(found).select_from(values).join(found, true())
    found = inner.add_columns(scope.label("in_scope")).lateral("found")
    return (select(*(found.c[c.key] for c in query.selected_columns))
            .select_from(values).join(found, true()).where(found.c.in_scope))


FEW = 2
"""Up to this many values, ``one_of_few`` names each in a parameter of its own."""


def one_of_few(column: Column[Any], count: int, name: str) -> ColumnElement[bool]:
    """``column`` is one of ``count`` values in the scalar parameters ``{name}_0``…
    (``few_params``), for a statement built once per count.

    PostgreSQL plans ``one_of_param``'s array as holding ten values when it weighs a
    generic plan, and a custom plan sees the real one or two: for some statements (a
    row lock with its joins) the custom plan always looks cheaper, so a prepared
    statement is planned again on every call, which costs more than running it. With
    scalar parameters both plans see the same count, and the generic one is kept.
    """
    if count == 1:
        return column == bindparam(f"{name}_0")
    return column.in_([bindparam(f"{name}_{i}") for i in range(count)])


def few_params(name: str, values: Sequence[Any], **others: Any) -> dict[str, Any]:
    """The parameters of a ``one_of_few`` statement: ``values`` and the ``others``."""
    return {**others, **{f"{name}_{i}": value for i, value in enumerate(values)}}


DIALECTS = ("postgresql", "sqlite")
LOCK_AT_ONCE = 500
"""The most rows one statement locks together (and the size of ``chunks``)."""


def chunks(values: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    """``values`` (deduplicated by the caller if need be) in lists of at most ``size``."""
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]


def one_of_rows(conn: Connection, many: Any, few: Mapping[int, Any], name: str,
                values: Sequence[Any], **params: Any) -> Iterator[Any]:
    """The rows of a statement over ``values``: ``many`` takes them as a list in the
    parameter ``name`` (``one_of_param``), a chunk at a time; on PostgreSQL, a count of
    values ``few`` has a statement for (``one_of_few`` with the same ``name``) goes through
    that one instead, which PostgreSQL plans once. ``params``: the other parameters.

    The statements are built once (at import, or cached): each is compiled once and sent
    to the driver directly (``rows_of``)."""
    if conn.dialect.name == "postgresql" and len(values) in few:
        yield from rows_of(conn, few[len(values)], few_params(name, values, **params))
        return
    for chunk in chunks(values):
        yield from rows_of(conn, many, {**params, name: chunk})


# A statement an event runs cost SQLAlchemy about 50 µs of CPU on top of psycopg's own (its
# execution context, result metadata and rows), about as much as psycopg and the server
# spent on it. The statements of the hot paths are built once (at import, or cached), so
# ``rows_of`` (and ``one_of_rows``, ``_few``) send them to the driver directly (psycopg,
# sqlite3): their text and converters are taken from SQLAlchemy's compilation once, and
# rows come back as named tuples with the same names and values (``_Direct``). Listeners
# of the engine's statements (``before_cursor_execute``, ``after_cursor_execute``: a test
# counting them) see them as before, without an execution context; with ``echo`` they go
# through SQLAlchemy, and so does a statement SQLAlchemy renders per call (an expanding
# list, Python-side defaults).

class _Direct:
    """A statement compiled once for a dialect, sent through the driver."""

    __slots__ = ("statement", "sql", "order", "own", "binds", "row", "types", "results")

    def __init__(self, statement: Any, sql: str, order: Sequence[str] | None,
                 own: dict[str, Any], binds: dict[str, Any], row: Any,
                 types: list[Any]) -> None:
        self.statement = statement  # kept, so its id is not reused while cached
        self.sql = sql
        self.order = order
        """The parameters' names in the order of the text's ``?`` (SQLite); None: by name."""
        self.own = own
        """The values the statement holds itself (literals bound when it was built)."""
        self.binds = binds
        self.row = row
        self.types = types
        """The result columns' SQLAlchemy types, in order."""
        self.results: list[tuple[int, Any]] | None = None
        """The columns' result converters, known once the first result describes them."""


class _Row(tuple):  # type: ignore[type-arg]
    """A named tuple that also answers ``_mapping``, as SQLAlchemy's rows do."""

    __slots__ = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return self._asdict()  # type: ignore[attr-defined, no-any-return]


_DIRECT: dict[tuple[int, str], _Direct | None] = {}
"""By the statement's id and the dialect: how it is sent directly, or None where it
cannot be."""


def _direct_form(conn: Connection, statement: Any) -> _Direct | None:
    compiled = statement.compile(dialect=conn.dialect)
    names = [entry[0] for entry in compiled._result_columns]
    if (compiled.escaped_bind_names
            or compiled.post_compile_params or compiled.literal_execute_params
            or compiled.insert_prefetch or compiled.update_prefetch  # Python-side defaults
            or len(set(names)) < len(names)
            or any(not n.isidentifier() or keyword.iskeyword(n) or n.startswith("_")
                   for n in names)):
        return None
    row = type("Row", (_Row, namedtuple("Row", names)), {"__slots__": ()}) if names else None
    own = {name: bind.value for bind, name in compiled.bind_names.items()
           if not bind.required and bind.callable is None}
    order = list(compiled.positiontup) if compiled.positiontup is not None else None
    return _Direct(statement, compiled.string, order, own, dict(compiled._bind_processors),
                   row, [entry[3] for entry in compiled._result_columns])


def _directly(conn: Connection) -> bool:
    """Whether statements may skip SQLAlchemy on ``conn``: when it does not echo them."""
    return not conn._echo


def _direct(conn: Connection, statement: Any) -> _Direct | None:
    """How ``statement`` goes to the driver directly; None: through SQLAlchemy."""
    if not _directly(conn):
        return None
    key = (id(statement), conn.dialect.name)
    if key not in _DIRECT:
        if len(_DIRECT) >= 4096:
            _DIRECT.clear()
        _DIRECT[key] = _direct_form(conn, statement)
    found = _DIRECT[key]
    return found if found is not None and found.statement is statement else None


def rows_of(conn: Connection, statement: Any, params: dict[str, Any]) -> Sequence[Any]:
    """``conn.execute(statement, params)``'s rows (none for a statement that returns
    none), for a statement built once: through the driver directly
    (``_Direct``), with the same names and values."""
    direct = _direct(conn, statement)
    if direct is None:
        result = conn.execute(statement, params)
        return list(result) if result.returns_rows else []
    binds = direct.binds
    named = {**direct.own, **params} if direct.own else params
    sent: Any = {key: binds[key](value) if key in binds else value
                 for key, value in named.items()}
    if direct.order is not None:
        sent = tuple(sent[name] for name in direct.order)
    description, fetched = _execute(conn, direct.sql, sent)
    if direct.row is None:
        return []
    results = direct.results
    if results is None:
        results = direct.results = _result_converters(conn.dialect, direct.types, description)
    make = direct.row._make
    if not results:
        return [make(values) for values in fetched]
    rows = []
    for values in fetched:
        line = list(values)
        for i, convert in results:
            if line[i] is not None:
                line[i] = convert(line[i])
        rows.append(make(line))
    return rows


def _result_converters(dialect: Any, types: list[Any], description: Any
                       ) -> list[tuple[int, Any]]:
    """SQLAlchemy's result processors of the columns, by position, for the driver's types
    the result describes."""
    found = []
    for i, (type_, column) in enumerate(zip(types, description or ())):
        convert = type_._cached_result_processor(dialect, column[1])  # type code
        if convert is not None:
            found.append((i, convert))
    return found


def _execute(conn: Connection, sql: str, params: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    """Run ``sql`` through the driver on ``conn``'s connection, in its transaction: the
    result's description and rows. A driver error is raised as SQLAlchemy raises it (so
    ``transact`` retries what it retries, and a connection the server dropped is let go)."""
    if not conn.in_transaction():
        conn.begin()  # as ``conn.execute`` begins one (SQLite's ``BEGIN`` is Patron's own)
    driver = conn.dialect.loaded_dbapi
    raw = conn.connection.driver_connection
    listening = conn._has_events or conn.engine._has_events
    cursor = raw.cursor()
    try:
        if listening:
            for before in conn.dispatch.before_cursor_execute:
                sql, params = before(conn, cursor, sql, params, None, False)
        cursor.execute(sql, params)
        found = cursor.fetchall() if cursor.description else []
        if listening:
            conn.dispatch.after_cursor_execute(conn, cursor, sql, params, None, False)
        return cursor.description, found
    except driver.Error as exc:
        gone = conn.dialect.is_disconnect(exc, raw, cursor)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, params, exc, driver.Error, connection_invalidated=gone,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys; many rows in one pass through the driver,
    a few in one ``INSERT … VALUES`` (``_few``)."""
    if len(rows) < BULK_ROWS:
        if rows:
            _few(conn, table, rows, returning=False)
        return
    names = list(rows[0])
    _send(conn, table, names, [[row[name] for name in names] for row in rows])


def insert_rows_returning_ids(conn: Connection, table: Table,
                              rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert rows and return their new ``id`` values, in the order of ``rows``.

    Many rows first reserve their ids, then go in with them: the same ids the database
    would have given them, in the same order. A few go in one ``INSERT … VALUES …
    RETURNING id``: the database numbers the rows of a ``VALUES`` list in their order
    (PostgreSQL takes each row's ``nextval`` as it inserts it; SQLite holds the write lock),
    so their ids, sorted, are in the order of ``rows``.
    """
    if len(rows) < BULK_ROWS:
        return _few(conn, table, rows, returning=True) if rows else []
    ids = _reserve_ids(conn, table, len(rows))
    names = list(rows[0])
    _send(conn, table, ["id", *names],
          [[row_id, *(row[name] for name in names)] for row_id, row in zip(ids, rows)])
    return ids


def insert_lists(conn: Connection, table: Table, names: list[str],
                 rows: list[list[Any]]) -> None:
    """Insert rows given as lists of values, in the order of ``names``, straight through
    the driver (COPY on PostgreSQL, executemany on SQLite): no dict per row and no
    statement compiled per call, for writers of many rows (an import). The lists are
    converted in place."""
    if rows:
        _send(conn, table, names, rows)


def insert_lists_returning_ids(conn: Connection, table: Table, names: list[str],
                               rows: list[list[Any]]) -> list[int]:
    """``insert_lists`` for rows that get new ``id`` values (reserved first, as
    ``insert_rows_returning_ids`` does); returns them in the order of ``rows``."""
    if not rows:
        return []
    ids = _reserve_ids(conn, table, len(rows))
    _send(conn, table, ["id", *names], [[row_id, *row] for row_id, row in zip(ids, rows)])
    return ids


_FEW: dict[tuple[Any, ...], tuple[str, list[tuple[int, Any]]]] = {}
"""``_few``'s statement text and value converters, by table, columns, row count, dialect
and whether it returns ids."""


def _few(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
         returning: bool) -> list[int]:
    """A few rows with the same keys in one ``INSERT … VALUES (…), (…)``, sent as text
    built once per table, columns and row count; ``returning``: their new ids, sorted
    (the rows' order, see ``insert_rows_returning_ids``).

    An event writes several tables a row or a few at a time. Through SQLAlchemy's
    ``insert()`` each of those statements was compiled for its parameters, and a few rows
    returning ids went through its many-values machinery, which orders them by a sentinel
    column: more CPU than the database spent on them. The values are converted with the
    columns' own types, as ``_send`` does and as SQLAlchemy would, and the statement still
    goes through the connection (its events, its errors).
    """
    dialect = conn.dialect
    names = tuple(rows[0])
    key = (table, names, len(rows), returning, dialect.name)
    built = _FEW.get(key)
    if built is None:
        built = _FEW[key] = _few_statement(dialect, table, names, len(rows), returning)
    sql, converters = built
    values: list[Any] = []
    for row in rows:
        line = [row[name] for name in names]
        for i, convert in converters:
            line[i] = convert(line[i])
        values.extend(line)
    if _directly(conn):
        _, ids = _execute(conn, sql, tuple(values))
        return sorted(row[0] for row in ids)
    result = conn.exec_driver_sql(sql, tuple(values))
    return sorted(result.scalars()) if returning else []


def _few_statement(dialect: Any, table: Table, names: tuple[str, ...], count: int,
                   returning: bool) -> tuple[str, list[tuple[int, Any]]]:
    quote = dialect.identifier_preparer.quote
    mark = "%s" if dialect.name == "postgresql" else "?"
    row = f"({', '.join([mark] * len(names))})"
    sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
           f"({', '.join(map(quote, names))}) VALUES {', '.join([row] * count)}"
           + (" RETURNING id" if returning else ""))
    return sql, _converters(dialect, table, names)


class JSONText(str):
    """A JSON column's value written already, as ``json.dumps`` writes it (what the
    column's own converter would have sent): ``insert_lists`` sends it as it is."""

    __slots__ = ()


def _converters(dialect: Any, table: Table, names: Sequence[str]) -> list[tuple[int, Any]]:
    """The positions among ``names`` whose values the column's type converts before the
    driver takes them (SQLAlchemy's bind processors), with the converter; a JSON column's
    converter lets ``JSONText`` through."""
    found: list[tuple[int, Any]] = []
    for i, name in enumerate(names):
        kind = table.c[name].type.dialect_impl(dialect)
        convert = kind.bind_processor(dialect)
        if convert is not None:
            found.append((i, _written_or(convert) if isinstance(kind, JSON) else convert))
    return found


def _written_or(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def converted(value: Any) -> Any:
        return value if type(value) is JSONText else convert(value)
    return converted


def _reserve_ids(conn: Connection, table: Table, count: int) -> list[int]:
    """Ids nobody else can take: from the table's sequence on PostgreSQL; on SQLite past the
    largest one, because a write transaction holds the database lock (``BEGIN IMMEDIATE``;
    in any other transaction SQLite refuses the insert as busy and ``transact`` retries)."""
    postgresql = conn.dialect.name == "postgresql"
    statement = _RESERVE.get((table, postgresql))
    if statement is None:
        if postgresql:
            sequence = select(func.pg_get_serial_sequence(table.name, "id")).scalar_subquery()
            statement = select(func.nextval(cast(sequence, REGCLASS)).label("id")).select_from(
                func.generate_series(1, bindparam("count")))
        else:
            statement = select(func.coalesce(func.max(table.c.id), 0).label("id"))
        statement = _RESERVE[(table, postgresql)] = statement
    if postgresql:
        return sorted(row[0] for row in rows_of(conn, statement, {"count": count}))
    first = rows_of(conn, statement, {})[0][0] + 1
    return list(range(first, first + count))


_RESERVE: dict[tuple[Table, bool], Any] = {}
"""``_reserve_ids``' statement by table and whether it is PostgreSQL's (built once each)."""


_NOTHING = object()


def _send(conn: Connection, table: Table, names: list[str], rows: list[list[Any]]) -> None:
    """Convert values with the columns' own types (as SQLAlchemy would), then send them:
    COPY on PostgreSQL, executemany on SQLite."""
    dialect = conn.dialect
    for i, convert in _converters(dialect, table, names):
        # a column at a time: a value the rows share (a batch's time) is converted once
        last: Any = _NOTHING
        done: Any = None
        for row in rows:
            value = row[i]
            if value is not last:
                last, done = value, convert(value)
            row[i] = done
    quote = dialect.identifier_preparer.quote
    target = f"{dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, names))})"
    if dialect.name != "postgresql":
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join('?' * len(names))})",
                             [tuple(row) for row in rows])
        return
    statement = f"COPY {target} FROM STDIN"
    driver = dialect.loaded_dbapi
    try:
        with conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
    except driver.Error as exc:  # raised as SQLAlchemy would, so retries and 409s still apply
        raise DBAPIError.instance(statement, None, exc, driver.Error) from exc
