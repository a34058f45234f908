from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("key", String(200), nullable=False),
    Column("operation", String(200), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "key"),
)
