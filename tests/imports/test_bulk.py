"""History written in bulk equals history sent through ingest, row for row, on SQLite and
PostgreSQL: the same members (joined at their earliest purchase), identities, accounts,
events with their stored outcomes, orders and lines, the same rejects and counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from patron.events.tables import events, order_lines, orders
from patron.imports import domain, history, service
from patron.ledger.tables import accounts
from patron.members.tables import identities, members
from tests.conftest import make_program

START = datetime(2023, 3, 1, 9, tzinfo=UTC)  # long before the test program
HEADER = "customer,basket,product,qty,price,at,currency\n"
MAPS = ("external_id=customer", "order_id=basket", "line.sku=product", "line.quantity=qty",
        "line.amount=price", "occurred_at=at")


def history_csv(path: Path, baskets: int) -> Path:
    """Baskets of 1-4 lines from 7 customers over weeks, with some the pipeline refuses: a
    line of quantity 0, another currency, a bad amount (refused when read), a split order."""
    rows = []
    for n in range(baskets):
        at = (START + timedelta(hours=7 * n + (n % 5))).strftime("%Y-%m-%d %H:%M:%S")
        customer = f"c{(n * 3) % 7}" if n % 11 else f"C{n % 7} "  # some to normalise
        currency = "EUR" if n % 17 == 5 else "USD"
        for line in range(1 + n % 4):
            qty = 0 if (n % 13 == 4 and line == 0) else 1 + line
            price = "x" if n % 19 == 7 else f"{1 + n % 9}.{line}5"
            rows.append(f"{customer},b{n},p{line + n % 3},{qty},{price},{at},{currency}\n")
    rows.insert(5, rows[1])  # a row of basket b0... apart from its order: split_order
    path.write_text(HEADER + "".join(rows))
    return path


def run(db, program, clock, path: Path, *, bulk: bool, batch_size: int = 6):
    columns = domain.mapping("event", MAPS, ("type=purchase", "channel=store"), money="major")
    source = service.Source(service.read_records(path, "csv"), "csv", columns)
    rejects = path.with_name(f"{path.stem}-{bulk}.rejects.jsonl")
    summary = service.import_events(db, program, source, now=clock.now, actor="test",
                                    batch_size=batch_size, rejects_path=rejects, bulk=bulk)
    return summary, [json.loads(line) for line in rejects.read_text().splitlines()]


def snapshot(db, program) -> dict[str, list]:
    """The program's rows with database ids replaced by their rank (ids differ between
    programs; their order must not)."""
    def read(conn):
        found = {}
        rank: dict[str, dict[int, int]] = {}
        for name, table in (("members", members), ("identities", identities),
                            ("events", events), ("orders", orders)):
            ids = conn.execute(select(table.c.id).where(table.c.program_id == program.id)
                               .order_by(table.c.id)).scalars().all()
            rank[name] = {value: n for n, value in enumerate(ids)}
        refs = {"member_id": "members", "event_id": "events", "order_pk": "orders",
                "merged_into": "members", "identity_id": "identities"}

        def plain(row) -> dict:
            out = {}
            for key, value in row._mapping.items():
                if key in ("id", "program_id"):
                    continue
                if key in refs and value is not None:
                    value = rank[refs[key]][value]
                if key == "outcome" and value.get("member_id") is not None:
                    value = {**value, "member_id": rank["members"][value["member_id"]]}
                out[key] = value
            return out

        for name, table in (("members", members), ("identities", identities),
                            ("accounts", accounts), ("events", events), ("orders", orders)):
            found[name] = [plain(r) for r in conn.execute(
                select(table).where(table.c.program_id == program.id).order_by(table.c.id))]
        found["order_lines"] = [plain(r) for r in conn.execute(
            select(order_lines).join(orders, orders.c.id == order_lines.c.order_pk)
            .where(orders.c.program_id == program.id).order_by(order_lines.c.id))]
        return found
    return db.read(read)


def counting_bulk(monkeypatch) -> list[bool]:
    """Whether each batch was written in bulk (True) or left to ingest."""
    taken: list[bool] = []

    def record(*args, **kwargs):
        found = history.record_history(*args, **kwargs)
        taken.append(found is not None)
        return found
    monkeypatch.setattr(service, "record_history", record)
    return taken


def test_bulk_history_equals_the_pipeline_row_for_row(database, clock, tmp_path, monkeypatch):
    path = history_csv(tmp_path / "history.csv", 60)
    fast_program = make_program(database, clock, pending_days=0)
    slow_program = make_program(database, clock, pending_days=0)
    taken = counting_bulk(monkeypatch)
    fast, fast_rejects = run(database, fast_program, clock, path, bulk=True)
    assert len(taken) > 5 and all(taken)
    slow, slow_rejects = run(database, slow_program, clock, path, bulk=False)
    assert fast == slow.__class__(**{**slow.__dict__, "seconds": fast.seconds,
                                     "rejects_file": fast.rejects_file})
    assert fast_rejects == slow_rejects
    assert {"split_order", "invalid_row", "currency_mismatch", "invalid_input"} <= set(
        fast.reasons)
    assert fast.imported > 30 and fast.enrolled == 12  # c0-c6, C0 -C6 : case kept
    got, expected = snapshot(database, fast_program), snapshot(database, slow_program)
    assert len(got["order_lines"]) > 60
    for name in expected:
        assert got[name] == expected[name], name


def test_bulk_history_is_used_for_history_and_leaves_the_rest_to_ingest(database, clock,
                                                                        tmp_path, monkeypatch):
    path = history_csv(tmp_path / "history.csv", 24)
    program = make_program(database, clock, pending_days=0)
    taken = counting_bulk(monkeypatch)
    first, _ = run(database, program, clock, path, bulk=True)
    assert taken and all(taken)
    taken.clear()
    before = snapshot(database, program)
    # the same file again: every batch holds recorded ids, which ingest answers
    again, _ = run(database, program, clock, path, bulk=True)
    assert first.imported > 10
    assert again.imported == 0 and again.duplicates == first.imported
    assert again.rejected == first.rejected
    assert taken and not any(taken)
    assert snapshot(database, program) == before


def test_what_bulk_history_takes(program, clock):
    purchase = service.event_in({
        "id": "order:1", "type": "purchase", "member": {"identity": {"type": "external_id",
                                                                     "value": "c1"}},
        "occurred_at": "2020-01-01T00:00:00Z",
        "data": {"order_id": "1", "currency": "USD", "total": 100}})
    now = clock.now()
    assert history.admits(program, [purchase], now, earn_history=False) is not None
    assert history.admits(program, [purchase], now, earn_history=True) is None
    recent = purchase.model_copy(update={"occurred_at": program.created_at})
    assert history.admits(program, [recent], now, earn_history=False) is None
    assert history.admits(program, [purchase, purchase], now, earn_history=False) is None
    review = purchase.model_copy(update={"type": "review", "id": "r1"})
    assert history.admits(program, [purchase, review], now, earn_history=False) is None


def test_csv_rows_are_read_as_dict_reader_reads_them(tmp_path):
    import csv
    text = 'a,b,c\n1,2,3\n\n4,5\n6,7,8,9\n"x\ny",,\n\n;,"",z\n'
    path = tmp_path / "rows.csv"
    path.write_text(text)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        expected = [(reader.line_num, row) for row in reader]
    got = [(r.line, r.raw) for r in service.read_records(path, "csv")]
    assert got == expected
    assert [r.error is not None for r in service.read_records(path, "csv")] == [
        False, False, True, False, False]


def test_event_data_is_checked_as_the_schema_checks_it():
    import pytest
    from pydantic import ValidationError

    from patron.events.schemas import EventIn
    base = {"id": "e1", "type": "review", "occurred_at": "2024-01-01T00:00:00Z",
            "member": {"identity": {"type": "email", "value": "a@example.com"}}}
    datas = [{}, {"a": "b", "n": 2**63 - 1, "f": 1.5, "t": True, "z": None},
             {"lines": [{"sku": "x", "quantity": 1}, {"sku": "y", "quantity": 2}]},
             {"nested": {"k": "v"}}, {"deep": [[{"a": [1]}]]}, {"café": "crème"},
             {"nul": "a\x00b"}, {"a\x00": 1}, {"big": 2**63}, {"lines": [{"big": -(2**64)}]},
             {"lone": "\ud800"}, {"lines": [{"x\x00": 1}]}, {1: "int key"}, {"list": [1, "a"]}]
    for data in datas:
        payload = {**base, "data": data}
        try:
            expected = EventIn.model_validate(payload)
        except ValidationError as exc:
            with pytest.raises(ValidationError) as got:
                service.event_in(payload)
            assert got.value.errors()[0]["msg"] == exc.errors()[0]["msg"], data
            continue
        assert service.event_in(payload) == expected, data
