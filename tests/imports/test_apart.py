"""A file parsed in a process of its own imports exactly as one parsed in the importer."""

from __future__ import annotations

import gc
import json
import multiprocessing
import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from patron.events.tables import events, order_lines, orders
from patron.imports import apart, domain, service
from patron.imports.domain import InvalidRow
from tests.conftest import make_program

pytestmark = pytest.mark.skipif(not apart.FORKS, reason="parsing apart needs a platform "
                                "that forks")

LINES = ["order_id=order", "external_id=customer", "occurred_at=when", "line.sku=sku",
         "line.category=cat", "line.quantity=qty", "line.amount=price"]
COLUMNS = domain.mapping("event", LINES, ["type=purchase"], money="major")
HEADER = "order,customer,when,sku,cat,qty,price\n"


def history_csv(path: Path, orders_: int = 40) -> Path:
    """Orders of a few lines each dated 2024 (before any test program), with rows every
    kind of import refuses: a quantity of 0 (the order schema's), a bad time (the
    parser's), a split order, and a row whose order repeats an order of the file."""
    rows = [HEADER]
    for n in range(orders_):
        for line in range(1 + n % 3):
            qty = 0 if n % 11 == 5 and line == 0 else 1
            rows.append(f"B{n},c-{n % 7},2024-03-{1 + n % 28:02d}T10:00:00Z,"
                        f"S{n}-{line},food,{qty},{1 + line}.25\n")
    rows.insert(9, "B900,c-1,yesterday,S1,food,1,1.00\n")
    rows.append("B3,c-3,2024-03-04T10:00:00Z,S3-9,food,1,1.00\n")  # B3 ended long before
    path.write_text("".join(rows))
    return path


def run(db, program, clock, path: Path, *, parse_apart: bool, **options):
    rejects = path.with_suffix(f".{parse_apart}.rejects.jsonl")
    summary = service.import_events(
        db, program, service.Source.file(path, "csv", COLUMNS), now=clock.now, actor="test",
        rejects_path=rejects, parse_apart=parse_apart, **options)
    lines = rejects.read_text().splitlines() if rejects.exists() else []
    return summary, [json.loads(line) for line in lines]


def written(db, program):
    """The events and order lines recorded, and the events' data as the database keeps
    it (on SQLite the text as sent: written in the parsing process, it must be the text
    the importing process would have written)."""
    def read(conn):
        stored = (conn.exec_driver_sql("SELECT data FROM events WHERE program_id = ? "
                                       "ORDER BY id", (program.id,)).scalars().all()
                  if db.is_sqlite else None)
        return stored, (
            conn.execute(select(events.c.external_id, events.c.member_id, events.c.data,
                                events.c.outcome, events.c.occurred_at)
                         .where(events.c.program_id == program.id)
                         .order_by(events.c.id)).all(),
            conn.execute(select(orders.c.order_id, orders.c.total, order_lines.c.line_no,
                                order_lines.c.sku, order_lines.c.amount)
                         .join(order_lines, order_lines.c.order_pk == orders.c.id)
                         .where(orders.c.program_id == program.id)
                         .order_by(orders.c.id, order_lines.c.line_no)).all())
    stored, found = db.read(read)
    return (*found, stored)


def without_members(value):
    """An outcome without member ids (each program enrols its own members)."""
    if isinstance(value, dict):
        return {k: without_members(v) for k, v in value.items() if k != "member_id"}
    if isinstance(value, list):
        return [without_members(v) for v in value]
    return value


def counts(summary):
    return (summary.read, summary.imported, summary.duplicates, summary.rejected,
            summary.enrolled, summary.points, summary.reasons)


@pytest.mark.parametrize("earn_history", [False, True], ids=["history", "earn-history"])
def test_parsed_apart_or_not_an_import_writes_the_same_rows_and_rejects(
        database, clock, tmp_path, earn_history, monkeypatch):
    """The bulk history path (the parser sends the refused records) and ingest's path
    (records refused while written are read again from the file) alike."""
    path = history_csv(tmp_path / "history.csv")
    found, reread, records = [], [], apart.Reread.records

    def spy(self, span):
        reread.append(span)
        return records(self, span)
    monkeypatch.setattr(apart.Reread, "records", spy)
    for parse_apart in (False, True):
        program = make_program(database, clock, pending_days=0, expiry={"days": None})
        summary, rejects = run(database, program, clock, path, parse_apart=parse_apart,
                               batch_size=7, earn_history=earn_history)
        rows = written(database, program)
        found.append((counts(summary), rejects,
                      [(r.external_id, r.data, without_members(r.outcome),
                        r.occurred_at) for r in rows[0]], rows[1], rows[2]))
    assert found[0] == found[1]
    # ingest refuses the orders of quantity 0 of history that earns: read again
    assert bool(reread) == earn_history
    summary_counts, rejects, recorded, lines, _ = found[1]
    assert summary_counts[3] == len(rejects) > 3
    assert {r["code"] for r in rejects} >= {"invalid_row", "split_order"}
    assert recorded and lines
    # every refused record is written with its own cells, in the file's order
    assert [r["line"] for r in rejects] == sorted(r["line"] for r in rejects)
    assert all(r["record"]["order"] for r in rejects)


def test_an_import_again_answers_duplicates_from_the_database(database, clock, tmp_path):
    """The second time, the bulk path finds the events recorded and ingest answers
    them: every order a duplicate, every refused row refused again."""
    path = history_csv(tmp_path / "history.csv")
    program = make_program(database, clock, pending_days=0, expiry={"days": None})
    first, first_rejects = run(database, program, clock, path, parse_apart=True, batch_size=5)
    again, again_rejects = run(database, program, clock, path, parse_apart=True, batch_size=5)
    assert (again.imported, again.duplicates) == (0, first.imported)
    assert [(r["line"], r["code"]) for r in again_rejects] == [
        (r["line"], r["code"]) for r in first_rejects]


def test_a_file_that_breaks_midway_stops_with_the_batches_before_it_written(
        database, clock, tmp_path):
    path = tmp_path / "broken.csv"
    # more than the text reader decodes at once, so the bad bytes come after batches
    good = "".join(f"B{n},c-1,2024-03-01T10:00:00Z,S{n},food,1,1.00\n" for n in range(600))
    path.write_bytes((HEADER + good).encode() + b"B99,c-1,2024-03-01T10:00:00Z,\xff,x,1,1\n")
    program = make_program(database, clock, pending_days=0, expiry={"days": None})
    with pytest.raises(UnicodeDecodeError):
        run(database, program, clock, path, parse_apart=True, batch_size=50)
    recorded, _, _ = written(database, program)
    assert 100 <= len(recorded) < 600 and len(recorded) % 50 == 0
    assert not multiprocessing.active_children()


def test_a_batch_that_fails_to_write_stops_the_parsing_process(database, clock, tmp_path,
                                                               monkeypatch):
    path = history_csv(tmp_path / "history.csv", orders_=200)
    program = make_program(database, clock, pending_days=0, expiry={"days": None})
    record, sent = service._record, []

    def failing(conn, program, events_, *args):
        sent.append(len(events_))
        if len(sent) == 2:
            raise RuntimeError("the database went away")
        return record(conn, program, events_, *args)
    monkeypatch.setattr(service, "_record", failing)
    with pytest.raises(RuntimeError, match="went away"):
        run(database, program, clock, path, parse_apart=True, batch_size=5)
    assert len(sent) == 2
    assert len(written(database, program)[0]) == sent[0]
    assert not multiprocessing.active_children()


def test_what_the_parsing_process_raises_is_raised_in_the_importer():
    def produce():
        raise InvalidRow("the row has no type", field="type")
        yield  # pragma: no cover - a generator that raises at once

    with pytest.raises(InvalidRow, match="no type") as raised:
        list(apart.batches(produce, tuple, tuple))
    assert raised.value.problem()["field"] == "type"

    class Unpicklable(Exception):
        def __init__(self, a, b):
            super().__init__(a)

    def produce_unpicklable():
        raise Unpicklable("lost", "twice")
        yield  # pragma: no cover

    with pytest.raises(apart.Failed, match="Unpicklable: lost"):
        list(apart.batches(produce_unpicklable, tuple, tuple))


def test_events_cross_as_they_were_parsed():
    payload = {"id": "e1", "type": "purchase", "occurred_at": "2024-03-01T10:00:00+02:00",
               "member": {"identity": {"type": "email", "value": "Ann@Example.com"}},
               "data": {"order_id": "A1", "currency": "USD", "total": 5,
                        "lines": [{"sku": "X", "amount": 5}]}}
    plain = {"id": "e2", "type": "review", "occurred_at": datetime(2024, 3, 2, tzinfo=UTC),
             "member": {"id": 7}}
    records = [service.Record(3, {"a": "1"}), service.Record(4, {"a": "2"})]
    batch = service._Batch(2, [(records, service.event_in(payload)),
                               ([service.Record(5, {"a": "3"})], service.event_in(plain))],
                           [([service.Record(6, {"a": ""})],
                             InvalidRow("bad").problem(), None)],
                           at=datetime(2026, 1, 1, tzinfo=UTC))
    wire = pickle.loads(pickle.dumps(apart.encode(batch)))
    decoded = apart.decode(wire, service.Record)
    rows, parsed, refused, at, admitted, made = (
        decoded[name] for name in ("rows", "parsed", "refused", "at", "admitted", "made"))
    assert (rows, refused, at, admitted, made) == (2, batch.refused, batch.at, None, None)
    assert type(refused[0][0][0]) is service.Record
    assert [group for group, _ in parsed] == [(3, 4), (5, 5)]
    for (_, before), (_, after) in zip(batch.parsed, parsed, strict=True):
        assert after.model_dump() == before.model_dump()
        assert after.model_fields_set == before.model_fields_set
        assert after.member.model_fields_set == before.member.model_fields_set
    assert parsed[0][1].member.identity.model_fields_set == {"type", "value"}
    parsed[1][1].channel = "web"  # each event its own set of fields given
    assert "channel" not in parsed[0][1].model_fields_set


def test_records_are_read_again_by_their_lines(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("x,y\n" + "".join(f"{n},\"two\nlines\"\n" if n == 3 else f"{n},v\n"
                                      for n in range(8)))
    reread = apart.Reread(lambda: service.read_records(path, "csv"))
    first = reread.records((3, 4))
    assert [r.raw["x"] for r in first] == ["1", "2"]
    assert [r.raw["x"] for r in reread.records((6, 8))] == ["3", "4", "5"]
    assert [r.raw["x"] for r in reread.records((2, 2))] == ["0"]  # from the start


def test_a_parsed_batch_holds_no_cycle_so_the_collector_can_wait(database, clock, tmp_path):
    """An import runs the collector every few batches only (``apart.COLLECT_EVERY``): a
    batch, refusals included, must be freed as soon as it is dropped, or each would stay
    until then (an order refused while checked once held its whole batch, through its
    exception's frames)."""
    program = make_program(database, clock, pending_days=0, expiry={"days": None})
    source = service.Source.file(history_csv(tmp_path / "history.csv"), "csv", COLUMNS)
    batches = service._prepared(source, program, service._locale(program), clock.now,
                                earn_history=False, bulk=True, size=10)
    gc.collect()
    gc.disable()
    try:
        refused = 0
        for batch in batches:
            refused += len(batch.refused) + len(batch.admitted.rejected if batch.admitted else ())
            pickle.dumps(apart.encode(batch))
            del batch
        assert refused >= 3  # the file's refusals were met
        assert gc.collect() == 0
    finally:
        gc.enable()
