"""Imports through the real pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from patron.earning import repository as earning_repository
from patron.events.tables import events
from patron.imports import domain, service
from patron.ledger.service import balance
from patron.logs import REQUEST_ID
from patron.members import repository as member_repository
from patron.members.service import get_member
from patron.program.service import get_program
from patron.program.versions import get_version, publish
from patron.program.document import ProgramDocument
from patron.tiers.service import member_tier
from tests.conftest import make_program
from tests.factories import purchase
from tests.tiers.test_tiers import tier_shop

BEFORE = datetime(2024, 5, 1, 12, tzinfo=UTC)  # long before the test program


def write_jsonl(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n"
                            for x in lines))
    return path


def import_file(db, program, clock, path: Path, **options):
    fmt = service.file_format(path)
    columns = options.pop("columns", None)
    source = service.Source.file(path, fmt, columns)  # parsed in a process of its own
    return service.import_events(db, program, source, now=clock.now, actor="test",
                                 rejects_path=path.with_suffix(".rejects.jsonl"), **options)


def member_by_identity(db, program, kind, value):
    return db.read(lambda conn: member_repository.members_by_identity(
        conn, program.id, [(kind, value)]))[(kind, value)]


def test_jsonl_import_is_idempotent_and_writes_rejects_with_reasons(database, program, clock,
                                                                     tmp_path):
    who = {"identity": {"type": "email", "value": "ann@example.com"}}
    good = [purchase(who, 10_00 + n, clock.now() - timedelta(days=n), event_id=f"e{n}")
            for n in range(4)]
    wrong_currency = purchase(who, 5_00, clock.now(), event_id="e-eur", currency="EUR")
    path = write_jsonl(tmp_path / "history.jsonl",
                       [*good[:2], "{not json", wrong_currency, {"id": "x", "type": "purchase"},
                        *good[2:]])
    first = import_file(database, program, clock, path, batch_size=3)
    assert (first.read, first.imported, first.duplicates, first.rejected) == (7, 4, 0, 3)
    assert first.enrolled == 1
    assert first.reasons == {"invalid_row": 1, "currency_mismatch": 1, "validation_error": 1}
    rejects = [json.loads(line) for line in Path(first.rejects_file).read_text().splitlines()]
    assert [(r["line"], r["code"]) for r in rejects] == [
        (3, "invalid_row"), (5, "validation_error"), (4, "currency_mismatch")]
    assert rejects[2]["record"]["id"] == "e-eur" and "EUR" in rejects[2]["detail"]

    again = import_file(database, program, clock, path)
    assert (again.imported, again.duplicates, again.rejected) == (0, 4, 3)
    member_id = member_by_identity(database, program, "email", "ann@example.com")
    # only the purchase made since the program began earns (once); older ones are history
    assert database.read(lambda conn: balance(conn, program, member_id)).lifetime_earned == 10


def test_history_before_the_program_earns_only_when_asked(database, make_history, clock,
                                                          tmp_path):
    program, path = make_history(tmp_path)
    recorded = import_file(database, program, clock, path)
    assert (recorded.imported, recorded.points) == (2, 0)
    member_id = member_by_identity(database, program, "external_id", "c-1")
    assert database.read(lambda conn: balance(conn, program, member_id)).lifetime_earned == 0

    program2, path2 = make_history(tmp_path / "b")
    earned = import_file(database, program2, clock, path2, earn_history=True)
    assert earned.points == 30


def test_earned_history_of_last_year_gives_the_tier_it_still_secures(database, clock,
                                                                     tmp_path):
    program = tier_shop(database, clock).program  # calendar year; Gold from $500
    who = {"identity": {"type": "external_id", "value": "c-7"}}
    path = write_jsonl(tmp_path / "last-year.jsonl", [
        purchase(who, 300_00, datetime(2025, 10, 1, tzinfo=UTC)),
        purchase(who, 250_00, datetime(2025, 12, 20, tzinfo=UTC)),
        purchase(who, 900_00, datetime(2024, 6, 1, tzinfo=UTC))])
    import_file(database, program, clock, path, earn_history=True)
    member_id = member_by_identity(database, program, "external_id", "c-7")
    state = database.read(lambda conn: member_tier(conn, program, member_id, clock.now()))
    assert state["tier"]["id"] == "gold" and state["since"] == datetime(2025, 12, 20, tzinfo=UTC)
    assert state["secured_until"] == datetime(2027, 1, 1, tzinfo=UTC)
    assert [(h["to_tier"], h["at"]) for h in state["history"]] == [
        ("gold", datetime(2025, 12, 20, tzinfo=UTC)),
        ("silver", datetime(2025, 10, 1, tzinfo=UTC))]  # 2024's Gold had lapsed: no move


def test_csv_mapping_with_duplicate_ids_in_one_file(database, program, clock, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("ref,customer,when,amount,kind\n"
                    "A1,c-9,2025-01-01T10:00:00Z,12.50,purchase\n"
                    "A2,c-9,2025-01-02T10:00:00Z,7.5,purchase\n"
                    "A1,c-9,2025-01-01T10:00:00Z,12.50,purchase\n"
                    "A3,c-9,2025-01-03T10:00:00Z,1.999,purchase\n")
    columns = domain.mapping("event", ["id=ref", "external_id=customer", "occurred_at=when",
                                       "total=amount", "type=kind"], money="major")
    summary = import_file(database, program, clock, path, columns=columns)
    assert (summary.imported, summary.duplicates, summary.rejected) == (2, 1, 1)
    assert summary.reasons == {"invalid_row": 1}


def test_members_import_keeps_join_dates_and_skips_known_identities(database, program, clock,
                                                                     tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("mail,phone,name,region,joined_at,consents.email_marketing\n"
                    "ann@example.com,,Ann,North,2019-03-01,yes\n"
                    "bob@example.com,+1 202 555 0101,Bob,,,no\n"
                    "bob@example.com,,Bob again,,,\n"
                    "ann@example.com,+1 202 555 0199,Ann or not,,,\n"
                    "cy@example.com,,Cy,,2999-01-01,\n")
    columns = domain.mapping("member", ["email=mail"])

    def run():
        source = service.Source(service.read_records(path, "csv"), "csv", columns)
        return service.import_members(database, program, source, now=clock.now,
                                      batch_size=2, rejects_path=tmp_path / "rejects.jsonl")
    first = run()
    assert (first.imported, first.duplicates, first.rejected) == (2, 1, 2)
    assert first.reasons == {"identity_taken": 1, "invalid_row": 1}
    ann = database.read(lambda conn: get_member(
        conn, program, member_by_identity(database, program, "email", "ann@example.com")))
    assert ann.created_at == datetime(2019, 3, 1, tzinfo=UTC)
    assert ann.profile.region == "North" and ann.consents["email_marketing"].granted
    second = run()
    assert (second.imported, second.duplicates) == (0, 3)


def test_a_member_born_after_today_is_refused_as_an_invalid_record(database, program, clock,
                                                                   tmp_path):
    """A birthdate after the member joined is history as it was given; one after today
    is a mistake, refused as the payload schema refuses one before 1900."""
    tomorrow = (clock.now() + timedelta(days=1)).date().isoformat()
    path = tmp_path / "members.csv"
    path.write_text("mail,birthdate,joined_at\n"
                    "ann@example.com,2019-06-01,2019-03-01\n"
                    f"bob@example.com,{tomorrow},\n"
                    "cy@example.com,1899-12-31,\n")
    source = service.Source(service.read_records(path, "csv"), "csv",
                            domain.mapping("member", ["email=mail"]))
    done = service.import_members(database, program, source, now=clock.now,
                                  rejects_path=tmp_path / "rejects.jsonl")
    assert (done.imported, done.rejected) == (1, 2)
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    rule = "profile.birthdate: Value error, birthdate must be between 1900-01-01 and today"
    assert [(r["line"], r["code"], r["detail"]) for r in rejects] == [
        (3, "validation_error", rule), (4, "validation_error", rule)]


def declare_workshops(db, program, clock):
    """Publish a version that declares the custom event type ``workshop``."""
    current = db.read(lambda conn: get_version(conn, program)).document
    document = ProgramDocument.model_validate(
        current.model_dump(mode="json", exclude_none=True)
        | {"event_types": [{"name": "workshop", "fields": {"topic": "string"}}]})
    db.transact(lambda conn: publish(conn, program, document, actor="test", now=clock.now()))
    return db.read(lambda conn: get_program(conn, program.id))


def test_history_of_a_custom_type_the_current_version_declares_is_recorded(database, clock,
                                                                           tmp_path):
    program = declare_workshops(database, make_program(database, clock, pending_days=0,
                                                       expiry={"days": None}), clock)
    who = {"identity": {"type": "external_id", "value": "c-1"}}
    path = write_jsonl(tmp_path / "workshops.jsonl", [
        {"id": "w1", "type": "sign_up", "member": who, "occurred_at": "2024-04-01T10:00:00Z"},
        {"id": "w2", "type": "workshop", "member": who, "occurred_at": "2024-05-01T10:00:00Z",
         "data": {"topic": "latte art"}},
        {"id": "w3", "type": "wrokshop", "member": who, "occurred_at": "2024-05-02T10:00:00Z"}])
    recorded = import_file(database, program, clock, path, batch_size=1)
    assert (recorded.imported, recorded.rejected, recorded.points) == (2, 1, 0)
    assert recorded.reasons == {"unknown_event_type": 1}
    # earning history evaluates it by the version current then, which did not know the type
    earning = declare_workshops(database, make_program(database, clock, pending_days=0,
                                                       expiry={"days": None}), clock)
    earned = import_file(database, earning, clock, path, earn_history=True, batch_size=1)
    assert (earned.imported, earned.rejected) == (1, 2)
    assert earned.reasons == {"unknown_event_type": 2}


def recorded_order(db, program, order_id: str):
    """An order as recorded: its total and its lines (sku, category, quantity, amount)."""
    def read(conn):
        order = earning_repository.order_for_return(conn, program.id, order_id)
        if order is None:
            return None
        return order.total, [(line.sku, line.category, line.quantity, line.amount)
                             for line in earning_repository.lines_of(conn, order.id)]
    return db.read(read)


LINES = ["order_id=order", "external_id=customer", "occurred_at=when", "line.sku=sku",
         "line.category=cat", "line.quantity=qty", "line.amount=price"]


def test_csv_rows_of_one_order_are_one_purchase_with_lines(database, program, clock, tmp_path):
    path = tmp_path / "order-lines.csv"
    path.write_text("order,customer,when,sku,cat,qty,price\n"
                    "A1,c-1,2025-01-01T10:00:00Z,X1,shoes,1,30.00\n"
                    "A1,c-1,2025-01-01T10:00:00Z,X2,socks,2,10.00\n"
                    "A2,c-1,2025-01-02T10:00:00Z,X3,shoes,1,10.00\n"
                    "A1,c-1,2025-01-01T10:00:00Z,X4,hats,1,1.00\n"
                    "A3,c-2,2025-01-03T10:00:00Z,X5,,1,4.00\n"
                    "A3,c-3,2025-01-03T10:00:00Z,X6,,1,4.00\n"
                    "A4,c-2,2025-01-04T10:00:00Z,X7,,1,2.50\n")
    columns = domain.mapping("event", LINES, ["type=purchase"], money="major")
    steps: list[int] = []
    first = import_file(database, program, clock, path, columns=columns, batch_size=1,
                        progress=steps.append)
    assert (first.read, first.imported, first.duplicates, first.rejected) == (7, 3, 0, 3)
    assert sum(steps) == 7
    # a row of A1 after another order is refused, not taken for a repeat; so is an order
    # whose rows name different members
    assert first.reasons == {"split_order": 1, "invalid_row": 2}
    rejects = [json.loads(line) for line in Path(first.rejects_file).read_text().splitlines()]
    assert [(r["line"], r["code"]) for r in rejects] == [
        (5, "split_order"), (6, "invalid_row"), (7, "invalid_row")]
    assert recorded_order(database, program, "A1") == (
        40_00, [("X1", "shoes", 1, 30_00), ("X2", "socks", 2, 10_00)])
    assert recorded_order(database, program, "A2") == (10_00, [("X3", "shoes", 1, 10_00)])
    assert recorded_order(database, program, "A4") == (2_50, [("X7", None, 1, 2_50)])
    assert recorded_order(database, program, "A3") is None

    again = import_file(database, program, clock, path, columns=columns)
    assert (again.imported, again.duplicates, again.rejected) == (0, 3, 3)


def test_a_mapped_order_total_is_kept_below_the_sum_of_its_lines(database, program, clock,
                                                                 tmp_path):
    path = tmp_path / "discounted.csv"
    path.write_text("order,customer,when,sku,cat,qty,price,paid\n"
                    "B1,c-1,2025-01-01T10:00:00Z,X1,shoes,1,30.00,40.00\n"
                    "B1,c-1,2025-01-01T10:00:00Z,X2,socks,3,15.00,40.00\n"
                    "B2,c-1,2025-01-02T10:00:00Z,X3,shoes,1,10.00,12.00\n")
    columns = domain.mapping("event", [*LINES, "total=paid"], ["type=purchase"],
                             money="major")
    summary = import_file(database, program, clock, path, columns=columns)
    assert (summary.imported, summary.rejected) == (1, 1)
    assert summary.reasons == {"invalid_input": 1}  # B2's total is more than its lines
    assert recorded_order(database, program, "B1") == (
        40_00, [("X1", "shoes", 1, 30_00), ("X2", "socks", 3, 15_00)])


def test_a_batch_that_fails_stops_the_import_with_every_batch_before_it_written(
        database, program, clock, tmp_path, monkeypatch):
    """The next batch is parsed while one is written, but batches are written one after
    another: when one fails, the import stops with the batches before it written and
    none after it."""
    who = {"identity": {"type": "email", "value": "ann@example.com"}}
    path = write_jsonl(tmp_path / "history.jsonl", [
        purchase(who, 10_00 + n, clock.now() - timedelta(days=n), event_id=f"e{n}")
        for n in range(9)])
    record, sent = service._record, []

    def failing(conn, program, events, *args):
        sent.append([event.id for event in events])
        if len(sent) == 2:
            raise RuntimeError("the database went away")
        return record(conn, program, events, *args)
    monkeypatch.setattr(service, "_record", failing)
    with pytest.raises(RuntimeError, match="went away"):
        import_file(database, program, clock, path, batch_size=3)
    assert sent == [["e0", "e1", "e2"], ["e3", "e4", "e5"]]
    recorded = database.read(lambda conn: conn.execute(select(events.c.external_id).where(
        events.c.program_id == program.id)).scalars().all())
    assert sorted(recorded) == ["e0", "e1", "e2"]


def test_batches_are_written_in_the_importers_context(database, program, clock, tmp_path,
                                                      monkeypatch):
    """On PostgreSQL a writer thread writes the batches; it sees what the importer's
    context holds (a request's id, its audit trail), as the importer itself would."""
    who = {"identity": {"type": "email", "value": "ann@example.com"}}
    path = write_jsonl(tmp_path / "history.jsonl", [
        purchase(who, 10_00 + n, clock.now() - timedelta(days=n), event_id=f"e{n}")
        for n in range(5)])
    record, seen = service._record, []

    def recording(conn, *args):
        seen.append(REQUEST_ID.get())
        return record(conn, *args)
    monkeypatch.setattr(service, "_record", recording)
    token = REQUEST_ID.set("import-7")
    try:
        summary = import_file(database, program, clock, path, batch_size=2)
    finally:
        REQUEST_ID.reset(token)
    assert (summary.imported, seen) == (5, ["import-7"] * 3)
