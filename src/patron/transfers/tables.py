"""Point transfers: one row per transfer from one member to another.

The points leave the sender's account in an ``out`` entry and reach the
receiver's account in an ``in`` entry (each naming the other member), so the
transfer shows in both ledgers. ``(program_id, from_member_id,
idempotency_key)`` is unique: a retried request finds the first transfer
instead of making a second. ``local_day`` is the day in the program's timezone
the transfer counts against for the daily maximum.
"""

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, UTCDateTime

point_transfers = Table(
    "point_transfers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("from_member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("to_member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("points", Amount, nullable=False),
    Column("idempotency_key", String(150), nullable=False),
    Column("local_day", String(10), nullable=False),
    Column("out_entry_id", BigId, ForeignKey("ledger_entries.id"), nullable=False),
    Column("in_entry_id", BigId, ForeignKey("ledger_entries.id"), nullable=False),
    Column("message", Text),
    Column("actor", String(100), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "from_member_id", "idempotency_key"),
    Index("ix_point_transfers_from_member_id_local_day", "from_member_id", "local_day"),
    Index("ix_point_transfers_to_member_id_id", "to_member_id", "id"),
)
