"""Tier qualification and state.

``qualification_entries`` is the append-only record of what counts towards a
tier: tier points from rules, qualifying spend and orders, and what returns take
back from them. ``tier_states`` holds each member's earned tier, until when it
is secured, and a manual tier with its end date; ``tier_changes`` is the history
a member reads ("Gold since 12 Mar: 1,050 tier points in 2026").
"""

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, UTCDateTime

qualification_entries = Table(
    "qualification_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("event_id", BigId, ForeignKey("events.id")),
    Column("reason", Text, nullable=False),
    Index("ix_qualification_entries_member_id_occurred_at", "member_id", "occurred_at"),
)

tier_states = Table(
    "tier_states",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("tier_id", String(64), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("secured_until", UTCDateTime),
    Column("manual_tier_id", String(64)),
    Column("manual_until", UTCDateTime),
    Column("manual_reason", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "member_id"),
    Index("ix_tier_states_secured_until", "secured_until"),
    Index("ix_tier_states_manual_until", "manual_until"),
)

tier_changes = Table(
    "tier_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("from_tier", String(64)),
    Column("to_tier", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("metric_value", Amount),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Index("ix_tier_changes_member_id_at", "member_id", "at"),
)
