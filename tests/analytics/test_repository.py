"""The warehouse snapshot: one program's rows, in its local time, by either path."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from patron.analytics.repository import snapshot
from patron.flows.ingest import ingest
from patron.events.tables import orders
from tests.conftest import T0, make_program
from tests.factories import purchase_event

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

    def read(conn):
        with snapshot(conn, program.id, zone, ["orders"], source=source) as w:
            assert w.source == source
            return [row[0] for row in w.rows("SELECT occurred_at FROM orders ORDER BY id")]
    local = database.read(read)
    expected = [at.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for at in INSTANTS]
    assert local == expected
    if zone == "America/New_York":  # 01:30 twice in the night the clocks go back
        assert local[0] == local[1] == datetime(2025, 11, 2, 1, 30)
        assert (local[2].hour, local[3].hour) == (1, 3)
    ingested = database.read(lambda conn: conn.execute(
        select(func.count()).select_from(orders).where(orders.c.program_id == program.id))
        .scalar())
    assert ingested == len(local) == len(INSTANTS)



@pytest.mark.parametrize("source", ["scan", "fetch"])
def test_each_snapshot_reads_the_rows_as_they_are_now(database, clock, source):
    """The attached database is shared between snapshots, the rows are not: a purchase
    recorded after one snapshot is in the next, and a closed snapshot leaves no table in it."""
    program = make_program(database, clock)
    buyer = {"identity": {"type": "email", "value": "a@example.com"}}

    def buy(cents, order_id):
        database.transact(lambda conn: ingest(conn, program, [purchase_event(
            buyer, cents, T0, order_id=order_id)], now=T0, actor="test"))

    def totals(conn):
        with snapshot(conn, program.id, "UTC", {"orders": ("member_id", "total")},
                      source=source) as w:
            assert w.columns["orders"] == ("member_id", "total")
            return w.rows("SELECT count(*), sum(total) FROM orders")[0], w.schema

    buy(1_00, "o-1")
    first, schema = database.read(totals)
    buy(2_50, "o-2")
    second, _ = database.read(totals)
    assert (first, second) == ((1, 1_00), (2, 3_50))
    if source == "fetch":  # a DuckDB of its own per snapshot: nothing to leave behind
        return

    def left(conn):
        with snapshot(conn, program.id, "UTC", ["accounts"], source=source) as w:
            return w.rows("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = $s",
                          {"s": schema})
    assert database.read(left) == [(0,)]
