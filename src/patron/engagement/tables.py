"""Members' engagement: progress on badges, challenges and streaks, and what it gave.

``member_engagement`` holds one row per member and thing in progress, keyed by
``kind`` and ``item_id`` (the document's id) and ``period``: a badge level held
(``badge``, period = the level), a challenge goal (``challenge``, period = its week
or month, "" for the window), a challenge joined (``join``), a streak (``streak``).
``engagement_awards`` records each reward given, once (the unique key is what
keeps a retried or racing event from giving it twice), with the ledger entry and
the coupon it produced. ``engagement_budgets`` counts what a challenge's rewards
cost, against its budget. ``engagement_contributions`` keeps what each purchase
gave (a challenge's count, sum or values, a streak's period, a badge), so a return
of the order takes it back (``settled_at``: a return took all of it back); a reward a return took back says so in its award row
(``reversed_at``, the return's event).
"""

from sqlalchemy import (Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint)

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, JSONDoc, UTCDateTime

member_engagement = Table(
    "member_engagement",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("period", String(64), nullable=False),
    Column("value", Amount, nullable=False),
    Column("seen", JSONDoc),
    Column("last_period", Integer),
    Column("forgiven", Integer, nullable=False),
    Column("run", Integer, nullable=False),
    Column("best", Integer, nullable=False),
    Column("started_at", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "member_id", "kind", "item_id", "period"),
    Index("ix_member_engagement_member_id", "member_id"),
)

engagement_awards = Table(
    "engagement_awards",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("award_key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("explanation", String(500), nullable=False),
    Column("points", Amount, nullable=False),
    Column("coupon_type", String(64)),
    Column("coupon_code", String(64)),
    Column("entry_id", BigId, ForeignKey("ledger_entries.id")),
    Column("event_id", BigId, ForeignKey("events.id")),
    Column("program_version", Integer, nullable=False),
    Column("awarded_at", UTCDateTime, nullable=False),
    Column("reversed_at", UTCDateTime),
    Column("reversal_event_id", BigId),
    UniqueConstraint("program_id", "member_id", "kind", "item_id", "award_key"),
    Index("ix_engagement_awards_member_id", "member_id"),
)

engagement_budgets = Table(
    "engagement_budgets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("points", Amount, nullable=False),
    Column("money", Amount, nullable=False),
    UniqueConstraint("program_id", "kind", "item_id"),
)

engagement_contributions = Table(
    "engagement_contributions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("period", String(64), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("seen", JSONDoc),
    Column("before", JSONDoc),
    Column("settled_at", UTCDateTime),
    Index("ix_engagement_contributions_event_id", "event_id"),
    Index("ix_engagement_contributions_member_id", "member_id", "item_id"),
)
