"""Statements built once go through ``rows_of`` (and ``one_of_rows``) straight to the driver
(psycopg, sqlite3), compiled once. A caller gets what ``conn.execute`` would give it: the same names, the same values and types, errors as SQLAlchemy raises them,
and every statement seen by whoever listens to the engine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from patron.db import Database, engine
from patron.db.engine import (insert_rows_returning_ids, one_of_param, one_of_rows, probe_each,
                              rows_of)
from patron.members.tables import identities, members
from patron.program.service import Program
from tests.conftest import make_program

AT = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))

MEMBER = select(members.c.id, members.c.name, members.c.attributes, members.c.birthdate,
                members.c.created_at, members.c.status.label("standing"),
                (members.c.id * 2).label("twice")).where(
    members.c.program_id == bindparam("program_id"), members.c.status == "active",
    members.c.id == bindparam("member_id"))
"""Literal values of its own ("active"), a label, JSON, a nullable date, a UTC time."""

COUNTS = select(members.c.status, func.count().label("n")).where(
    members.c.program_id == bindparam("program_id")).group_by(members.c.status)
EXPANDING = select(members.c.id).where(members.c.id.in_(bindparam("ids", expanding=True)))
RENAME = (update(members).where(members.c.id == bindparam("member_id"))
          .values(name=bindparam("new_name")).returning(members.c.id, members.c.updated_at))
TOUCH = update(members).where(members.c.id == bindparam("member_id")).values(
    updated_at=bindparam("at"))
ONE_OF = {dialect: select(members.c.id, members.c.name).where(
    one_of_param(dialect, members.c.id, "ids")) for dialect in ("postgresql", "sqlite")}
ONE_OF_FEW = {1: select(members.c.id, members.c.name).where(
    one_of_param("postgresql", members.c.id, "ids", 1))}


def _members(database: Database, program: Program, count: int) -> list[int]:
    rows = [{"program_id": program.id, "status": "active", "name": f"Member {n}",
             "attributes": {"n": n, "tags": ["a"]}, "consents": {},
             "created_at": AT + timedelta(minutes=n), "updated_at": AT} for n in range(count)]
    return database.transact(lambda conn: insert_rows_returning_ids(conn, members, rows))


def test_rows_carry_the_names_values_and_types_execute_gives(database: Database,
                                                            program: Program):
    [member_id] = _members(database, program, 1)
    params = {"program_id": program.id, "member_id": member_id}
    [expected] = database.read(lambda conn: list(conn.execute(MEMBER, params)))
    for _ in range(3):  # compiled once, then from the cache
        [row] = database.read(lambda conn: rows_of(conn, MEMBER, params))
        assert tuple(row) == tuple(expected)
        assert row.id == member_id and row.standing == "active" and row.twice == 2 * member_id
        assert row.attributes == {"n": 0, "tags": ["a"]} and row.birthdate is None
        assert row.created_at == AT and row.created_at.tzinfo == timezone.utc
        assert row._mapping == dict(expected._mapping)
        assert row[0] == member_id
    member, name, *_ = row
    assert (member, name) == (member_id, "Member 0")
    assert engine._DIRECT[id(MEMBER), database.dialect] is not None  # compiled once, sent to the driver


def test_no_rows_and_aggregates(database: Database, program: Program):
    assert database.read(lambda conn: rows_of(conn, MEMBER, {
        "program_id": program.id, "member_id": -1})) == []
    _members(database, program, 3)
    assert [tuple(r) for r in database.read(lambda conn: rows_of(
        conn, COUNTS, {"program_id": program.id}))] == [("active", 3)]


def test_a_statement_rendered_per_call_still_answers(database: Database, program: Program):
    ids = _members(database, program, 3)
    for wanted in (ids[:1], ids):
        found = database.read(lambda conn: rows_of(conn, EXPANDING, {"ids": wanted}))
        assert sorted(r.id for r in found) == sorted(wanted)


def test_one_of_rows_answers_for_one_member_and_for_many(database: Database, program: Program):
    ids = _members(database, program, 4)
    for wanted in (ids[:1], ids):
        found = database.read(lambda conn: list(one_of_rows(
            conn, ONE_OF[conn.dialect.name], ONE_OF_FEW, "ids", wanted)))
        assert {r.id: r.name for r in found} == {
            member_id: f"Member {n}" for n, member_id in enumerate(ids) if member_id in wanted}


def test_writes_return_what_they_return_and_go_with_their_transaction(
        database: Database, program: Program):
    [member_id] = _members(database, program, 1)
    [row] = database.transact(lambda conn: rows_of(
        conn, RENAME, {"member_id": member_id, "new_name": "Renamed"}))
    assert row.id == member_id and row.updated_at == AT
    assert database.transact(lambda conn: rows_of(
        conn, TOUCH, {"member_id": member_id, "at": AT + timedelta(days=1)})) == []

    def rolled_back(conn):  # type: ignore[no-untyped-def]
        rows_of(conn, RENAME, {"member_id": member_id, "new_name": "Lost"})
        raise LookupError("changed my mind")
    with pytest.raises(LookupError):
        database.transact(rolled_back)
    [kept] = database.read(lambda conn: list(conn.execute(
        select(members.c.name, members.c.updated_at).where(members.c.id == member_id))))
    assert tuple(kept) == ("Renamed", AT + timedelta(days=1))


def test_a_naive_time_is_refused_before_it_is_sent(database: Database, program: Program):
    [member_id] = _members(database, program, 1)
    with pytest.raises(Exception, match="naive datetime refused"):
        database.transact(lambda conn: rows_of(
            conn, TOUCH, {"member_id": member_id, "at": datetime(2026, 3, 1)}))


def test_errors_are_raised_as_sqlalchemy_raises_them(database: Database, program: Program):
    [member_id] = _members(database, program, 1)
    insert = identities.insert().values(
        program_id=bindparam("program_id"), member_id=bindparam("member_id"), type="email",
        value=bindparam("value"), created_at=bindparam("at"))
    params = {"program_id": program.id, "member_id": member_id, "value": "a@example.com",
              "at": AT}
    database.transact(lambda conn: rows_of(conn, insert, params))
    with pytest.raises(IntegrityError):
        with database.engine.begin() as conn:
            rows_of(conn, insert, params)
    if database.is_sqlite:
        return  # SQLite compares a text with a number without complaint
    with pytest.raises(DBAPIError):
        with database.engine.begin() as conn:
            rows_of(conn, MEMBER, {"program_id": program.id, "member_id": "not a number"})


def test_listeners_see_every_statement(database: Database, program: Program):
    [member_id] = _members(database, program, 1)
    seen: list[str] = []
    after: list[str] = []

    def before(conn, cursor, statement, *rest):  # type: ignore[no-untyped-def]
        seen.append(statement)

    def done(conn, cursor, statement, *rest):  # type: ignore[no-untyped-def]
        after.append(statement)

    event.listen(database.engine, "before_cursor_execute", before)
    event.listen(database.engine, "after_cursor_execute", done)
    try:
        [row] = database.read(lambda conn: rows_of(
            conn, MEMBER, {"program_id": program.id, "member_id": member_id}))
    finally:
        event.remove(database.engine, "before_cursor_execute", before)
        event.remove(database.engine, "after_cursor_execute", done)
    assert row.id == member_id
    sent = [s for s in seen if "FROM members" in s]
    assert len(sent) == 1 and [s for s in after if "FROM members" in s] == sent


def test_a_connection_outside_a_transaction_begins_one_as_execute_would(
        database: Database, program: Program):
    [member_id] = _members(database, program, 1)
    with database.engine.connect() as conn:
        rows_of(conn, RENAME, {"member_id": member_id, "new_name": "Not kept"})
        assert conn.in_transaction()
        conn.rollback()
    [name] = database.read(lambda conn: list(conn.execute(
        select(members.c.name).where(members.c.id == member_id)).scalars()))
    assert name == "Member 0"


PROBED = {dialect: probe_each(dialect, select(members.c.id, members.c.name).where(
    members.c.program_id == bindparam("program_id")), members.c.id, "ids")
    for dialect in ("postgresql", "sqlite")}
"""The scope inside each lookup."""
SCOPED = {dialect: probe_each(dialect, select(members.c.id, members.c.name), members.c.id,
                              "ids", scope=members.c.program_id == bindparam("program_id"))
          for dialect in ("postgresql", "sqlite")}
"""The scope checked once each row is found."""


def test_values_probed_each_on_its_own_answer_as_a_list_of_them_does(
        database: Database, program: Program, clock):
    """``probe_each`` (a lookup per value on PostgreSQL) gives the rows ``one_of_param``
    gives, with or without its scope inside the lookup: no member of another program, none
    twice, none for an unknown id; the statement is sent directly, its text the same
    whatever the count."""
    other = make_program(database, clock)
    ours = _members(database, program, 4)
    theirs = _members(database, other, 2)
    dialect = database.engine.dialect.name
    for ids in ([], ours, [ours[1]], ours[:3] + theirs + [10**9], theirs):
        params = {"program_id": program.id, "ids": ids}
        expected = database.read(lambda conn, p=params: sorted(
            tuple(row) for row in conn.execute(ONE_OF[dialect].where(
                members.c.program_id == bindparam("program_id")), p)))
        for statement in (PROBED[dialect], SCOPED[dialect]):
            found = database.read(lambda conn, s=statement, p=params: rows_of(conn, s, p))
            assert sorted(tuple(row) for row in found) == expected, ids
            assert all(row._fields == ("id", "name") for row in found)
    with database.engine.connect() as conn:
        assert engine._direct(conn, SCOPED[dialect]) is not None
