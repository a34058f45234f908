from sqlalchemy import Column, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

programs = Table(
    "programs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("slug", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("settings", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("slug"),
)
