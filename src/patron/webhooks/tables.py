"""Webhook endpoints, the outbox of messages for them, and the log of every attempt.

``webhook_messages`` is the outbox: a row per message and endpoint, written by a hook
subscriber in the transaction of the change it tells of, so a rolled-back change
leaves none. A worker claims due rows (a lease: ``locked_until`` and ``claim``),
sends them outside any transaction, and records each attempt in ``webhook_attempts``.
``lane`` orders delivery: a member's messages to an endpoint go one at a time, in id
order (0: messages about no member, such as a campaign's start).

The outbox has no foreign keys: a message is written on ingest's path, where each key
would cost a check per row, and on PostgreSQL a shared lock on the endpoint's (and the
program's) row taken by every concurrent ingest. A deleted endpoint keeps its row
(``deleted_at``), so a message written for it by a process that has not seen it go yet
(its view of endpoints is a few seconds old) is never claimed, and the sweeps remove it.
"""

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("description", String(200)),
    Column("event_types", JSONDoc, nullable=False),
    Column("secret", String(120), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
    Index("ix_webhook_endpoints_program_id", "program_id"),
)
"""Where a program's webhooks go: a URL, the event types it takes, its signing secret
(Standard Webhooks ``whsec_…``) and whether it is enabled. A deleted endpoint is disabled
and marked ``deleted_at``; its messages are deleted with it."""

webhook_messages = Table(
    "webhook_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, nullable=False),
    Column("endpoint_id", BigId, nullable=False),
    Column("webhook_id", String(40), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("member_id", BigId),
    Column("lane", BigId, nullable=False),
    Column("payload", Text, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("locked_until", UTCDateTime),
    Column("claim", String(32)),
    Column("delivered_at", UTCDateTime),
    Column("last_status", Integer),
    Column("last_error", String(500)),
    Index("ix_webhook_messages_state_delivered_at_id", "state", "delivered_at", "id"),
    Index("ix_webhook_messages_endpoint_id_lane_state_id", "endpoint_id", "lane", "state", "id"),
)
"""One message for one endpoint: ``state`` is ``pending`` (``next_attempt_at`` NULL: due
at once), ``delivered`` or ``dead`` (failed ``PATRON_WEBHOOK_MAX_ATTEMPTS`` times).
``webhook_id`` is the Standard Webhooks message id, the same on every attempt and every
endpoint, for receivers to drop repeats. Two indexes only, each written with every
message: by state (pending ones in id order, for claims: their ``delivered_at`` is NULL;
delivered ones by when, for the sweeps' pruning) and each lane's order."""

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("message_id", BigId, ForeignKey("webhook_messages.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("status_code", Integer),
    Column("latency_ms", Integer, nullable=False),
    Column("error", String(500)),
    Index("ix_webhook_attempts_message_id", "message_id"),
)
"""The delivery log: each attempt's time, outcome (``delivered`` or ``failed``), HTTP
status (none when no answer came), how long it took and what went wrong."""
