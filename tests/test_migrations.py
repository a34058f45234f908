"""Migrations build the whole schema on an empty database, and match the tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from patron.db import create_database
from patron.migrations.tables import all_tables, include_name
from patron.db.migrate import current_revision, downgrade, head_revision, upgrade

BEFORE_QUEUE = "0020_audit_log_and_key_limits"
QUEUE_OBJECTS = ("SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'procrastinate%%') "
                 "+ (SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%%') "
                 "+ (SELECT count(*) FROM pg_type WHERE typname LIKE 'procrastinate%%')")


def no_drift(conn) -> bool:
    """The database's tables are Patron's (the job queue's are procrastinate's)."""
    context = MigrationContext.configure(conn, opts={"include_name": include_name})
    return compare_metadata(context, all_tables()) == []


def test_upgrade_empty_sqlite_and_no_drift(tmp_path):
    db = create_database(str(tmp_path / "empty.db"))
    assert current_revision(db) is None
    upgrade(db)
    assert current_revision(db) == head_revision(db)
    upgrade(db)  # running again is harmless
    with db.engine.connect() as conn:
        assert no_drift(conn)
    downgrade(db, BEFORE_QUEUE)  # the queue's migration does nothing on SQLite, both ways
    assert current_revision(db) == BEFORE_QUEUE
    upgrade(db)
    assert current_revision(db) == head_revision(db)


def test_upgrade_empty_postgresql_and_no_drift(postgresql_url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(postgresql_url).database + "_mig"
    admin = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        db = create_database(make_url(postgresql_url).set(database=name)
                             .render_as_string(hide_password=False))
        upgrade(db)
        assert current_revision(db) == head_revision(db)
        with db.engine.connect() as conn:
            assert no_drift(conn)
            assert conn.exec_driver_sql(QUEUE_OBJECTS).scalar() > 0
            assert conn.exec_driver_sql("SELECT count(*) FROM procrastinate_jobs").scalar() == 0
        downgrade(db, BEFORE_QUEUE)
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql(QUEUE_OBJECTS).scalar() == 0, "the queue is all gone"
        upgrade(db)  # and comes back
        with db.engine.connect() as conn:
            assert no_drift(conn)
            assert conn.exec_driver_sql("SELECT count(*) FROM procrastinate_jobs").scalar() == 0
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
