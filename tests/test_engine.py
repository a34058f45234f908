"""The transaction boundary survives a pooled connection the server has closed."""

from __future__ import annotations

from sqlalchemy import text

from patron.db import create_database


def test_a_connection_closed_by_the_server_is_replaced_without_an_error(postgresql_url):
    """No ping before each checkout: a dropped connection is found by the work itself,
    which runs again on a new one."""
    db = create_database(postgresql_url, pool_size=1, max_overflow=0)
    first = db.read(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    other = create_database(postgresql_url)
    other.transact(lambda conn: conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                                             {"pid": first}))
    other.dispose()
    second = db.transact(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    assert second != first
    db.dispose()
