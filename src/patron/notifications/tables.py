"""The notifications outbox: one row per message to a member, rendered when written.

Rows are written by hook subscribers in the transaction of the change they tell of,
so a rolled-back change leaves none. ``send_due`` claims due rows (a lease:
``locked_until``), sends them outside any transaction and records the outcome:
``pending`` -> ``sent``, or back to ``pending`` with ``next_attempt_at`` after a
failure, ``dead`` after ``PATRON_NOTIFY_MAX_ATTEMPTS``; ``dropped`` when the member
was erased before it went. A message on a channel the program hands to its webhooks is
``handed_off`` when written (the webhooks' outbox delivers it and logs that). No foreign
keys: rows are written on ingest's path.
"""

from sqlalchemy import Column, Index, Integer, String, Table, Text

from patron.db.metadata import metadata
from patron.db.types import BigId, UTCDateTime

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, nullable=False),
    Column("member_id", BigId, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("language", String(16), nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("locked_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_notifications_state_id", "state", "id"),
    Index("ix_notifications_member_id", "member_id"),
)
