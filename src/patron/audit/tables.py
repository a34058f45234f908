from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from patron.db.metadata import metadata
from patron.db.types import BigId, UTCDateTime

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(254), nullable=False),
    Column("api_key_id", BigId),
    Column("staff_account_id", BigId),
    Column("operation", String(300), nullable=False),
    Column("member_id", BigId),
    Column("request_id", String(128)),
    Column("outcome", String(16), nullable=False),
    Column("status", Integer),
    Index("ix_audit_log_program_id_at", "program_id", "at"),
    Index("ix_audit_log_program_id_member_id", "program_id", "member_id"),
)
"""Every write through the API or the console: who (``actor``: ``key:<id>`` or
``staff:<email>``), what (``operation``: method and route), for which member, when, under
which request id, and how it ended (``succeeded`` in the change's own transaction,
``failed`` with the answer's status in a row of its own)."""
