"""Rows go in through ``insert_rows`` and ``insert_rows_returning_ids``: a few in one
``INSERT … VALUES`` built once, many through the driver's bulk path. Either way the ids
come back in the rows' order and the values go in as the columns' types would have them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from patron.db import Database
from patron.db.engine import BULK_ROWS, insert_rows, insert_rows_returning_ids
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
