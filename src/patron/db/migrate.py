"""Schema migrations (Alembic), run from Patron's own commands and tests."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from patron.config import get_settings, normalise_database_url
from patron.db.engine import Database, create_database
from patron.errors import PatronError

DEMO_DATABASE = "patron-demo.db"


class DatabaseNotReady(PatronError):
    status = 503
    code = "database_not_ready"
    title = "Database not ready"


def open_migrated(url: str | None) -> Database:
    """The database a command names (else ``$PATRON_DATABASE_URL``), checked to hold
    Patron's current schema: a wrong path says so, instead of an empty SQLite file being
    created there and the command failing on a missing table."""
    target = url or get_settings().database_url
    normalised = normalise_database_url(target)
    parsed = make_url(normalised)
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).exists():
            raise DatabaseNotReady(f"there is no database at {parsed.database}{_hint(url)}")
    database = create_database(normalised)
    try:
        current = current_revision(database)
    except OperationalError as error:
        database.dispose()
        raise DatabaseNotReady(f"cannot open {target}: {error.orig}") from None
    if current != head_revision(database):
        database.dispose()
        if current is None:
            raise DatabaseNotReady(f"{target} holds no Patron schema: run `patron db upgrade "
                                   f"--db {target}` to create it{_hint(url)}")
        raise DatabaseNotReady(f"{target} is at schema revision {current}, this Patron needs "
                               f"{head_revision(database)}: run `patron db upgrade --db {target}`")
    return database


def _hint(url: str | None) -> str:
    if url is None and Path(DEMO_DATABASE).exists():
        return (f"; the demo's database is {DEMO_DATABASE}: pass --db {DEMO_DATABASE} "
                f"or export PATRON_DATABASE_URL={DEMO_DATABASE}")
    return ("; `patron demo` creates one with a demo program" if url is None else "")


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("patron") / "migrations"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    config = alembic_config(db)
    with db.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        conn.commit()


def downgrade(db: Database, revision: str) -> None:
    """Undo the migrations after ``revision`` (for Patron's developers and tests)."""
    config = alembic_config(db)
    with db.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
        conn.commit()


def current_revision(db: Database) -> str | None:
    with db.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(db: Database) -> str | None:
    return ScriptDirectory.from_config(alembic_config(db)).get_current_head()


def revision(db: Database, message: str) -> None:
    """Autogenerate a migration from the tables (for Patron's developers)."""
    config = alembic_config(db)
    with db.engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        config.attributes["connection"] = conn
        command.revision(config, message=message, autogenerate=True,
                         rev_id=f"{len(list(ScriptDirectory.from_config(config).walk_revisions())) + 1:04d}")
