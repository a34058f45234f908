"""Migrations build the whole schema on an empty database, and match the tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from patron.db import create_database
from patron.migrations.tables import all_tables
from patron.db.migrate import current_revision, head_revision, upgrade


def test_upgrade_empty_sqlite_and_no_drift(tmp_path):
    db = create_database(str(tmp_path / "empty.db"))
    assert current_revision(db) is None
    upgrade(db)
    assert current_revision(db) == head_revision(db)
    upgrade(db)  # running again is harmless
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), all_tables()) == []


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
            assert compare_metadata(MigrationContext.configure(conn), all_tables()) == []
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
