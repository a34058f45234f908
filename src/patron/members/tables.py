from sqlalchemy import (BigInteger, Boolean, Column, Date, Float, ForeignKey, Index, String,
                        Table, Text, UniqueConstraint)

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

members = Table(
    "members",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_reason", String(500)),
    Column("status_changed_by", String(200)),
    Column("status_changed_at", UTCDateTime),
    Column("merged_into", BigId, ForeignKey("members.id")),
    Column("name", String(200)),
    Column("given_name", String(100)),
    Column("family_name", String(100)),
    Column("birthdate", Date),
    Column("gender", String(16)),
    Column("address_line1", String(200)),
    Column("address_line2", String(200)),
    Column("city", String(100)),
    Column("postcode", String(20)),
    Column("state", String(100)),
    Column("country", String(2)),
    Column("region", String(100)),
    Column("join_channel", String(64)),
    Column("attributes", JSONDoc, nullable=False),
    Column("consents", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("family_key", String(100)),
    Column("postcode_key", String(20)),
    Index("ix_members_program_id_created_at", "program_id", "created_at"),
    Index("ix_members_merged_into", "merged_into"),
    Index("ix_members_match_birthdate", "program_id", "birthdate", "family_key"),
    Index("ix_members_match_postcode", "program_id", "postcode_key", "family_key"),
)
"""``family_key`` and ``postcode_key`` are the family name and postcode as matching
compares them (``patron.matching.rules``), kept so that enrolment finds a new member's
look-alikes through the two ``ix_members_match_*`` indexes."""

member_status_changes = Table(
    "member_status_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("previous_status", String(16), nullable=False),
    Column("reason", String(500)),
    Column("actor", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_member_status_changes_member_id", "member_id"),
)
"""Who blocked, closed or reopened a member, when and why: one row per change."""

merges = Table(
    "merges",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("survivor_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("merged_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(500)),
    Column("actor", String(200), nullable=False),
    Column("source", String(32), nullable=False),
    Column("moved", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("undone_at", UTCDateTime),
    Column("undone_by", String(200)),
    Index("ix_merges_survivor_id", "survivor_id"),
    Index("ix_merges_merged_id", "merged_id"),
)
"""One merge of ``merged_id`` into ``survivor_id``: ``moved`` records every row the merge
moved (by id), so an undo restores both members exactly; ``state`` is merged or undone."""

merge_candidates = Table(
    "merge_candidates",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_a", BigId, ForeignKey("members.id"), nullable=False),
    Column("member_b", BigId, ForeignKey("members.id"), nullable=False),
    Column("probability", Float, nullable=False),
    Column("rule", String(100)),
    Column("evidence", JSONDoc, nullable=False),
    Column("state", String(16), nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", UTCDateTime),
    Column("reason", String(500)),
    Column("merge_id", BigId, ForeignKey("merges.id")),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "member_a", "member_b"),
    Index("ix_merge_candidates_program_id_state", "program_id", "state"),
)
"""A pair that may be one person (``member_a < member_b``): pending until a person accepts
(merged) or rejects it (never suggested again), with the evidence per field."""

match_models = Table(
    "match_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("settings", Text, nullable=False),
    Column("pairs_scored", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_match_models_program_id", "program_id"),
)
"""A trained probabilistic matching model per program (Splink settings JSON); the latest wins."""

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

consent_changes = Table(
    "consent_changes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source", String(64)),
    Column("notice", String(200)),
    Column("actor", String(254), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_consent_changes_member_id", "member_id"),
)
"""Every consent a member gave or withdrew, append-only: for which ``channel`` (email,
sms, push, post, phone, ...; ``any`` for a purpose not tied to one) and ``purpose``
(marketing, ...), granted or withdrawn, where it was captured (``source``: web, pos, ...),
the wording's version the member saw (``notice``), who recorded it (an API key, a staff
account, an import) and when. ``members.consents`` holds the latest of each, for reading."""
