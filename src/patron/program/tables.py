"""Programs and their published versions.

A program document is published as an immutable, numbered version; the program
row points at the current one and keeps a copy of its settings. Versions are
never updated or deleted: an event is evaluated by the version that was current
when it occurred, so history stays explainable.
"""

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

programs = Table(
    "programs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("slug", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("settings", JSONDoc, nullable=False),
    Column("current_version", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("slug"),
)

program_versions = Table(
    "program_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSONDoc, nullable=False),
    Column("source", Text),
    Column("checksum", String(64), nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    Column("published_by", String(100), nullable=False),
    Column("note", Text),
    UniqueConstraint("program_id", "version"),
)
