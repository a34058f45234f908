"""The warehouse snapshot: one program's rows, in its local time, by either path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from patron.analytics import cache, worker
from patron.analytics.repository import scans_apart, snapshot
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.ledger.jobs import expire_lots
from patron.ledger.service import spend_points
from patron.events.tables import orders
from tests.conftest import T0, make_program
from tests.factories import purchase_event

def on_snapshot(database, work, *args):
    """``work(conn, *args)`` where a report would run it: a scan of a SQLite file in the
    analytics worker's process (``work`` is then sent by name), anything else here."""
    source = args[-1]
    if scans_apart(database.engine, source):
        url = database.engine.url.render_as_string(hide_password=False)
        return worker.run_apart(url, work, *args)
    return database.read(lambda conn: work(conn, *args))


INSTANTS = [  # around New York's DST changes, and ordinary times
    datetime(2025, 11, 2, 5, 30, tzinfo=UTC), datetime(2025, 11, 2, 6, 30, tzinfo=UTC),
    datetime(2025, 3, 9, 6, 59, tzinfo=UTC), datetime(2025, 3, 9, 7, 0, tzinfo=UTC),
    datetime(2026, 1, 31, 23, 45, tzinfo=UTC), datetime(2025, 7, 4, 12, 0, 0, 123456,
                                                       tzinfo=UTC)]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "UTC"])
@pytest.mark.parametrize("source", ["scan", "fetch"])
def test_snapshot_holds_local_wall_time_of_this_program_only(database, clock, zone, source):
    program = make_program(database, clock, timezone=zone)
    other = make_program(database, clock)
    for target in (program, other):
        events = [purchase_event({"identity": {"type": "email", "value": "a@example.com"}},
                                 1_00, at) for at in INSTANTS]
        database.transact(lambda conn: ingest(conn, target, events, now=T0, actor="test"))

    read, local = on_snapshot(database, local_times, program.id, zone, source)
    assert read == source
    expected = [at.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for at in INSTANTS]
    assert local == expected
    if zone == "America/New_York":  # 01:30 twice in the night the clocks go back
        assert local[0] == local[1] == datetime(2025, 11, 2, 1, 30)
        assert (local[2].hour, local[3].hour) == (1, 3)
    ingested = database.read(lambda conn: conn.execute(
        select(func.count()).select_from(orders).where(orders.c.program_id == program.id))
        .scalar())
    assert ingested == len(local) == len(INSTANTS)


def local_times(conn, program_id, zone, source):
    with snapshot(conn, program_id, zone, ["orders"], source=source) as w:
        return w.source, [row[0] for row in w.rows("SELECT occurred_at FROM orders ORDER BY id")]


@pytest.mark.parametrize("source", ["scan", "fetch"])
def test_each_snapshot_reads_the_rows_as_they_are_now(database, clock, source):
    """The attached database is shared between snapshots, the rows are not: a purchase
    recorded after one snapshot is in the next, and a closed snapshot leaves no table in it."""
    program = make_program(database, clock)
    buyer = {"identity": {"type": "email", "value": "a@example.com"}}

    def buy(cents, order_id):
        database.transact(lambda conn: ingest(conn, program, [purchase_event(
            buyer, cents, T0, order_id=order_id)], now=T0, actor="test"))

    buy(1_00, "o-1")
    first, schema, columns = on_snapshot(database, totals, program.id, source)
    buy(2_50, "o-2")
    second, _, _ = on_snapshot(database, totals, program.id, source)
    assert columns == ("member_id", "total")
    assert (first, second) == ((1, 1_00), (2, 3_50))
    if source == "fetch":  # a DuckDB of its own per snapshot: nothing to leave behind
        return
    assert on_snapshot(database, schemas_named, program.id, schema, source) == [(0,)]


def totals(conn, program_id, source):
    with snapshot(conn, program_id, "UTC", {"orders": ("member_id", "total")},
                  source=source) as w:
        return w.rows("SELECT count(*), sum(total) FROM orders")[0], w.schema, \
            w.columns["orders"]


def schemas_named(conn, program_id, schema, source):
    with snapshot(conn, program_id, "UTC", ["accounts"], source=source) as w:
        return w.rows("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = $s",
                      {"s": schema})


def test_a_sqlite_file_is_never_scanned_beside_patrons_own_connections(database, clock):
    """DuckDB's scanner has a SQLite of its own, whose locks this process's connections
    would not see: on SQLite the scan runs in the analytics worker, and a report leaves
    the database as it found it (SQLite's count of changes, seen by another connection,
    stays the same)."""
    program = make_program(database, clock)
    if not database.is_sqlite:
        assert not scans_apart(database.engine, "scan")
        return
    assert scans_apart(database.engine, "scan") and not scans_apart(database.engine, "fetch")
    with pytest.raises(RuntimeError, match="worker"):
        database.read(lambda conn: snapshot(conn, program.id, "UTC", ["orders"],
                                            source="scan"))
    database.transact(lambda conn: ingest(conn, program, [purchase_event(
        {"identity": {"type": "email", "value": "b@example.com"}}, 1_00, T0)], now=T0,
        actor="test"))
    before = database.read(cache.data_version)
    assert on_snapshot(database, totals, program.id, "scan")[0] == (1, 1_00)
    assert database.read(cache.data_version) == before


def test_spends_and_other_events_read_by_postgresql_are_the_rows_read_by_python(database,
                                                                               clock):
    """PostgreSQL plans the spends (one kind of ledger entry) and the events other than
    purchases itself; the rows are those the SQLAlchemy path reads, on either database."""
    program = make_program(database, clock, pending_days=0)
    buyer = {"identity": {"type": "email", "value": "c@example.com"}}
    events = [purchase_event(buyer, 20_00, T0, order_id="o-1"),
              EventIn.model_validate({"id": "rev-1", "type": "review", "member": buyer,
                                      "occurred_at": T0.isoformat(), "channel": "app"}),
              EventIn.model_validate({"id": "chk-1", "type": "check_in", "member": buyer,
                                      "occurred_at": T0.isoformat()})]
    database.transact(lambda conn: ingest(conn, program, events, now=T0, actor="test"))
    member = database.read(lambda conn: conn.execute(select(orders.c.member_id).where(
        orders.c.program_id == program.id)).scalar_one())
    for n, points in enumerate((5, 7)):
        database.transact(lambda conn: spend_points(
            conn, program, member, points=points, reason=f"treat {n}", key=f"s-{n}",
            actor="test", now=T0, order_id="o-1" if n else None))
    scanned = on_snapshot(database, rows_of, program.id, ("spends", "events"), "scan")
    fetched = on_snapshot(database, rows_of, program.id, ("spends", "events"), "fetch")
    assert scanned == fetched
    assert [row[2] for row in scanned["spends"]] == [5, 7]
    assert sorted(row[1] for row in scanned["events"]) == ["check_in", "review"]


def test_lines_and_expiries_found_by_the_database_are_the_rows_read_by_python(database,
                                                                             clock):
    """An order's lines and a lot's expiry are read beside the orders and the ledger (the
    database finds the program's orders and expiry entries, not the snapshot): the rows
    are those the SQLAlchemy path reads, on either database."""
    program = make_program(database, clock, pending_days=0, expiry={"days": 30})
    buyer = {"identity": {"type": "email", "value": "x@example.com"}}
    lines = [{"sku": "A", "category": "drinks", "quantity": 2, "amount": 6_00},
             {"sku": "B", "category": "food", "quantity": 1, "amount": 4_00}]
    events = [purchase_event(buyer, 10_00, T0, order_id="o-1", lines=lines),
              purchase_event(buyer, 3_00, T0 + timedelta(days=40), order_id="o-2")]
    database.transact(lambda conn: ingest(conn, program, events[:1], now=T0, actor="test"))
    member = database.read(lambda conn: conn.execute(select(orders.c.member_id).where(
        orders.c.program_id == program.id)).scalar_one())
    database.transact(lambda conn: spend_points(
        conn, program, member, points=4, reason="treat", key="s-x", actor="test", now=T0))
    expire_lots(database, T0 + timedelta(days=31))  # a sweep of every program's lots
    later = T0 + timedelta(days=40)
    database.transact(lambda conn: ingest(conn, program, events[1:], now=later, actor="test"))
    tables = ("order_lines", "lot_expiries", "lots")
    scanned = on_snapshot(database, rows_of, program.id, tables, "scan")
    fetched = on_snapshot(database, rows_of, program.id, tables, "fetch")
    assert scanned == fetched
    assert sorted(row[1] for row in scanned["order_lines"]) == ["A", "B", "SKU-1"]
    assert [row[1] for row in scanned["lot_expiries"]] == [10 - 4]


def rows_of(conn, program_id, tables, source):
    with snapshot(conn, program_id, "UTC", list(tables), source=source) as w:
        return {table: w.rows(f"SELECT * FROM {table} ORDER BY ALL") for table in tables}
