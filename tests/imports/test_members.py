"""Members imported in bulk: the same rows as enrolling each one alone, the same refusals,
a few statements per chunk, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event

from patron.db.engine import insert_rows_returning_ids
from patron.events.tables import events
from patron.flows import enrolment
from patron.imports import domain, service
from patron.members.schemas import MemberCreate
from patron.members.tables import members

from tests.conftest import make_program
from tests.imports.test_bulk import snapshot
from tests.imports.test_service import member_by_identity

HEADER = "mail,card,name,region,joined_at,consents.email_marketing\n"
ROWS = ["ann@example.com,,Ann,North,2019-03-01,yes\n",
        "bob@example.com,K1234,Bob,,2019-03-01,no\n",
        "ann@example.com,,Ann again,,,\n",            # a duplicate of a row before it
        "cy@example.com,K1234,Cy,,,\n",                 # Bob's card: refused, naming Bob
        "dee@example.com,,Dee,,2020-07-09T10:00:00Z,\n",
        "old@example.com,,Old,,,\n",                  # enrolled before the import
        "not an email,,Nobody,,,\n"]                  # refused when read


def import_members(db, program, clock, path, batch_size=500):
    source = service.Source(service.read_records(path, "csv"), "csv",
                            domain.mapping("member", ["email=mail"]))
    return service.import_members(db, program, source, now=clock.now, batch_size=batch_size,
                                  rejects_path=path.with_suffix(".rejects.jsonl"))


def statements(db) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *args: seen.append(sql.lstrip().upper()))
    return seen


def test_members_are_enrolled_in_bulk_as_one_by_one(database, clock, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(HEADER + "".join(ROWS))
    bulk = make_program(database, clock)
    alone = make_program(database, clock)
    for program in (bulk, alone):
        database.transact(lambda conn: enrolment.create_member(conn, program, MemberCreate(
            identities=[{"type": "email", "value": "old@example.com"}]), clock.now()))

    seen = statements(database)
    done = import_members(database, bulk, clock, path)
    assert (done.imported, done.duplicates, done.rejected) == (3, 2, 2)
    in_bulk = len(seen)
    rejects = [json.loads(line) for line in path.with_suffix(".rejects.jsonl").read_text()
               .splitlines()]
    assert [(r["line"], r["code"]) for r in rejects] == [(5, "identity_taken"),
                                                         (8, "invalid_identity")]

    # the same rows enrolled one at a time, as the import did before
    columns = domain.mapping("member", ["email=mail"])
    locale = domain.Locale(alone.settings.currency, alone.settings.minor_exponent,
                           alone.settings.timezone)
    seen.clear()
    for row in ROWS[:2] + ROWS[4:5]:
        cells = dict(zip(HEADER.strip().split(","), row.strip().split(",")))
        payload, joined = domain.member_payload(cells, columns, locale)
        database.transact(lambda conn: enrolment.create_member(
            conn, alone, MemberCreate.model_validate(payload), joined or clock.now(),
            actor="import"))
    assert in_bulk < len(seen) / 2  # the whole file read and written in fewer statements
    got, expected = snapshot(database, bulk), snapshot(database, alone)
    for name in ("members", "identities", "accounts"):
        assert got[name] == expected[name], name
    assert got["accounts"][1]["created_at"] == got["members"][1]["created_at"]
    bob_id = member_by_identity(database, bulk, "card", "K1234")
    assert rejects[0]["detail"].endswith(f"member {bob_id}")


def test_a_chunk_boundary_changes_nothing(database, clock, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text(HEADER + "".join(ROWS))
    whole, chunked = make_program(database, clock), make_program(database, clock)
    first = import_members(database, whole, clock, path)
    second = import_members(database, chunked, clock, path, batch_size=2)
    assert (first.imported, first.duplicates, first.rejected) == (
        second.imported, second.duplicates, second.rejected) == (4, 1, 2)
    got, expected = snapshot(database, chunked), snapshot(database, whole)
    for name in ("members", "identities", "accounts"):
        assert got[name] == expected[name], name


def test_a_large_import_leaves_the_tables_it_filled_analysed(database, clock, tmp_path,
                                                             monkeypatch):
    """After a load, the planner works from what the tables now hold, not from what they
    held before (PostgreSQL; SQLite's planner is left as it is)."""
    path = tmp_path / "members.csv"
    path.write_text(HEADER + "".join(ROWS))
    analysed: list[list[str]] = []
    monkeypatch.setattr(database, "refresh_statistics",
                        lambda tables: analysed.append([t.name for t in tables]))
    import_members(database, make_program(database, clock), clock, path)
    assert analysed == []  # four members: the statistics barely move
    monkeypatch.setattr(service, "REFRESH_AFTER", 3)
    import_members(database, make_program(database, clock), clock, path)
    assert analysed == [["members", "identities", "accounts"]]


def test_refreshing_statistics_analyses_the_tables_on_postgresql(database):
    from patron.ledger.tables import accounts
    from patron.members.tables import identities, members

    def last_analysed():
        return database.read(lambda conn: dict(conn.exec_driver_sql(
            "SELECT relname, last_analyze FROM pg_stat_user_tables "
            "WHERE relname IN ('members', 'identities', 'accounts')").all()))

    database.refresh_statistics([members, identities, accounts])
    if database.dialect != "postgresql":  # SQLite: its planner keeps to what it did
        assert not database.read(lambda conn: conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").all())
        return
    before = last_analysed()
    database.refresh_statistics([members, identities, accounts])
    after = last_analysed()
    assert set(after) == {"members", "identities", "accounts"}
    assert all(after[name] is not None and after[name] != before.get(name) for name in after)


def test_refreshing_statistics_leaves_json_documents_out(database, clock, tmp_path):
    """The events' data and outcome (whole orders) are not analysed: no query filters on
    them, and they took most of an import's closing ``ANALYZE``."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite's statistics are left as they are")
    program = make_program(database, clock)
    [member_id] = database.transact(lambda conn: insert_rows_returning_ids(conn, members, [
        {"program_id": program.id, "status": "active", "attributes": {}, "consents": {},
         "created_at": clock.now(), "updated_at": clock.now()}]))
    database.transact(lambda conn: conn.exec_driver_sql(
        "INSERT INTO events (program_id, external_id, type, member_id, occurred_at, "
        "received_at, data, outcome) SELECT %(program)s, 'e' || n, 'purchase', %(member)s, "
        "now(), now(), '{\"lines\": [1, 2]}', '{}' FROM generate_series(1, 50) n",
        {"program": program.id, "member": member_id}))
    database.refresh_statistics([events])
    analysed = database.read(lambda conn: set(conn.exec_driver_sql(
        "SELECT attname FROM pg_stats WHERE tablename = 'events'").scalars()))
    assert {"external_id", "type", "occurred_at"} <= analysed
    assert not analysed & {"data", "outcome"}
