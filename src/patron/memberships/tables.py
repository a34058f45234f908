"""Paid memberships storage.

``memberships`` holds one row per subscription of a member to a plan, with the
terms that were paid for and the dates the state machine (``domain``) runs on.
``live_member_id`` is the member's id while the membership is live and NULL once
it has lapsed or ended: its unique constraint is what keeps a member to one live
membership even when two subscriptions race. ``next_review_at`` is the next
moment the membership changes by itself, which is all the sweep needs to find.

``membership_transitions`` is append-only: every state change (and every
payment) with when, why and who. A payment reference is recorded once per
program, so a retried payment cannot renew twice.
"""

from sqlalchemy import (Column, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint)

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, UTCDateTime

memberships = Table(
    "memberships",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("plan_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("price", Amount, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("period_months", Integer, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("current_period_start", UTCDateTime),
    Column("current_period_end", UTCDateTime),
    Column("paid_until", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    Column("lapsed_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("next_review_at", UTCDateTime),
    Column("live_member_id", BigId),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("live_member_id"),
    Index("ix_memberships_member_id", "member_id"),
    Index("ix_memberships_next_review_at", "next_review_at"),
)

membership_transitions = Table(
    "membership_transitions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("membership_id", BigId, ForeignKey("memberships.id"), nullable=False),
    Column("event", String(32), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("payment_reference", String(200)),
    Column("payment_amount", Amount),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "payment_reference"),
    Index("ix_membership_transitions_membership_id", "membership_id"),
)
