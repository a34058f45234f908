"""Storage: one SQLAlchemy MetaData, portable column types, engines and transactions."""

from patron.db.engine import Database, create_database
from patron.db.metadata import metadata

__all__ = ["Database", "create_database", "metadata"]
