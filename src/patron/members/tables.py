from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

members = Table(
    "members",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("name", String(200)),
    Column("birthdate", Date),
    Column("region", String(100)),
    Column("join_channel", String(64)),
    Column("attributes", JSONDoc, nullable=False),
    Column("consents", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_members_program_id_created_at", "program_id", "created_at"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("value", String(320), nullable=False),
    Column("channel", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "type", "value"),
    Index("ix_identities_member_id", "member_id"),
)
