"""Tags, materialised member features and segments.

``member_tags`` holds one row per tag a member carries now: ``source`` is
``manual`` (API, CLI, import) or ``rule`` (a program ``tags`` rule; the features
job adds and removes these). ``member_features`` is one row per member,
replaced by each refresh; it is derived from ``members`` by the refresh's own
SELECT, so it has no foreign keys (checking a million rows one by one, with a
lock on each member's row, doubled the cost of writing them). A segment's
members are in ``segment_members`` with the time they entered and, once they
leave, the time they left (rows are never rewritten otherwise), so membership on
any past day can be read back;
``segment_counts`` keeps the size after every refresh, for the chart.
"""

from sqlalchemy import (Boolean, Column, Date, Float, ForeignKey, Index, Integer, String, Table,
                        Text, UniqueConstraint)

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, JSONDoc, UTCDateTime

member_tags = Table(
    "member_tags",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("tag", String(64), nullable=False),
    Column("source", String(16), nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    UniqueConstraint("member_id", "tag"),
    Index("ix_member_tags_program_id_tag", "program_id", "tag"),
)

member_features = Table(
    "member_features",
    metadata,
    # no foreign keys: rows are written from members by the refresh (see migration 0030)
    Column("member_id", BigId, primary_key=True),
    Column("program_id", BigId, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    Column("joined_on", Date),
    Column("last_purchase_on", Date),
    Column("recency_days", Integer),
    Column("days_since_last_purchase", Integer),
    Column("frequency", Integer, nullable=False),
    Column("monetary", Amount, nullable=False),
    Column("r_score", Integer),
    Column("f_score", Integer),
    Column("m_score", Integer),
    Column("rfm_segment", String(40)),
    Column("churn_probability", Float),
    Column("expected_purchases", Float),
    Column("expected_value", Amount),
    Column("tier", String(64)),
    Column("age_band", String(16)),
    Column("region", String(100)),
    Column("join_channel", String(64)),
    Column("favourite_category", String(200)),
    Column("favourite_channel", String(64)),
    Column("points_balance", Amount, nullable=False),
    Column("expiring_points", Amount, nullable=False),
    Column("referral_count", Integer, nullable=False),
    Column("tags", JSONDoc, nullable=False),
    Index("ix_member_features_program_id", "program_id"),
)

segments = Table(
    "segments",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("kind", String(16), nullable=False),
    Column("condition", Text),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("refreshed_at", UTCDateTime),
    UniqueConstraint("program_id", "key"),
)

segment_members = Table(
    "segment_members",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("segment_id", BigId, ForeignKey("segments.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("entered_at", UTCDateTime, nullable=False),
    Column("left_at", UTCDateTime),
    Index("ix_segment_members_segment_id_left_at", "segment_id", "left_at"),
    Index("ix_segment_members_member_id", "member_id"),
)

segment_counts = Table(
    "segment_counts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("segment_id", BigId, ForeignKey("segments.id"), nullable=False),
    Column("counted_at", UTCDateTime, nullable=False),
    Column("members", Integer, nullable=False),
    Column("entered", Integer, nullable=False),
    Column("left", Integer, nullable=False),
    Index("ix_segment_counts_segment_id_counted_at", "segment_id", "counted_at"),
)
