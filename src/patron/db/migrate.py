"""Schema migrations (Alembic), run from Patron's own commands and tests."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from patron.db.engine import Database


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
