"""Rows go in through ``insert_rows`` and ``insert_rows_returning_ids``: a few in one
``INSERT … VALUES`` built once, many through the driver's bulk path. Either way the ids
come back in the rows' order and the values go in as the columns' types would have them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from patron.db import Database
from patron.db.engine import (BULK_ROWS, JSONText, insert_lists_returning_ids, insert_rows,
                              insert_rows_returning_ids)
from patron.members.tables import identities, members
from patron.program.service import Program

AT = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))


def _member(program: Program, n: int) -> dict[str, object]:
    return {"program_id": program.id, "status": "active", "name": f"Member {n}",
            "attributes": {"n": n, "tags": ["a", "b"]}, "consents": {},
            "created_at": AT + timedelta(minutes=n), "updated_at": AT}


@pytest.mark.parametrize("count", [1, 2, 3, BULK_ROWS - 1, BULK_ROWS, BULK_ROWS + 3])
def test_ids_come_back_in_the_order_of_the_rows(database: Database, program: Program,
                                               count: int):
    rows = [_member(program, n) for n in range(count)]
    ids = database.transact(lambda conn: insert_rows_returning_ids(conn, members, rows))
    assert len(ids) == count == len(set(ids))
    stored = database.read(lambda conn: {r.id: r for r in conn.execute(
        select(members).where(members.c.id.in_(ids)))})
    for n, member_id in enumerate(ids):
        row = stored[member_id]
        assert row.name == f"Member {n}"
        assert row.attributes == {"n": n, "tags": ["a", "b"]}
        assert row.created_at == AT + timedelta(minutes=n)
        assert row.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("count", [1, 3])
def test_a_few_rows_that_break_a_unique_key_raise_as_sqlalchemy_would(
        database: Database, program: Program, count: int):
    """``transact`` retries an ``IntegrityError`` and the API answers it with a conflict:
    the few-rows statement raises the same error, and writes none of its rows."""
    [member_id] = database.transact(
        lambda conn: insert_rows_returning_ids(conn, members, [_member(program, 0)]))
    rows = [{"program_id": program.id, "member_id": member_id, "type": "email",
             "value": f"m{n}@example.com", "created_at": AT} for n in range(count)]
    database.transact(lambda conn: insert_rows(conn, identities, rows[-1:]))
    with pytest.raises(IntegrityError):
        with database.engine.begin() as conn:
            insert_rows(conn, identities, rows)
    kept = database.read(lambda conn: conn.execute(
        select(identities.c.value).where(identities.c.member_id == member_id)).scalars().all())
    assert kept == [rows[-1]["value"]]


def test_a_naive_time_is_refused_by_the_few_rows_statement_too(database: Database,
                                                              program: Program):
    row = {**_member(program, 0), "created_at": datetime(2026, 3, 1, 9, 30)}
    with pytest.raises(ValueError, match="naive datetime refused"):
        database.transact(lambda conn: insert_rows(conn, members, [row]))


def test_json_written_beforehand_goes_in_as_the_column_would_have_written_it(
        database: Database, program: Program):
    """``insert_lists`` takes a JSON column's value as ``JSONText`` (``json.dumps`` of it,
    written by an import's parsing process) or as the value itself, to the same effect."""
    attributes = [{"n": n, "tags": ["a", "b"], "name": "Zoë \\ \t"} for n in range(BULK_ROWS + 2)]
    names = ["program_id", "status", "name", "attributes", "consents", "created_at",
             "updated_at"]

    def rows(json_text: bool) -> list[list[object]]:
        return [[program.id, "active", f"Member {n}",
                 JSONText(json.dumps(value)) if json_text else value, {}, AT, AT]
                for n, value in enumerate(attributes)]
    as_text = database.transact(lambda conn: insert_lists_returning_ids(
        conn, members, names, rows(True)))
    as_value = database.transact(lambda conn: insert_lists_returning_ids(
        conn, members, names, rows(False)))

    def stored(ids: list[int]) -> list[object]:
        return database.read(lambda conn: conn.execute(
            select(members.c.attributes).where(members.c.id.in_(ids))
            .order_by(members.c.id)).scalars().all())
    assert stored(as_text) == stored(as_value) == attributes
    if database.is_sqlite:  # the same text, too
        raw = database.read(lambda conn: conn.exec_driver_sql(
            f"SELECT attributes FROM members WHERE id IN ({as_text[0]}, {as_value[0]})"
        ).scalars().all())
        assert raw[0] == raw[1]
