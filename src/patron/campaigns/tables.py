"""Campaign assignment and budget counters.

``campaign_members`` records, once and for good, which group a member of a
campaign's target was put in (``treatment`` or ``holdout``), when, and the
hash bucket that decided it; assignment never changes mid-campaign.
``campaign_starts`` remembers which campaigns' start was announced.
``campaign_budgets`` counts what a campaign gave: ``points`` issued by its
earn rules and ``money`` (minor units: points priced at the program's point
value, cashback, coupon and reward value), against the document's budget.
"""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, UTCDateTime

campaign_members = Table(
    "campaign_members",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("group", String(16), nullable=False),
    Column("bucket", Integer, nullable=False),
    Column("assigned_at", UTCDateTime, nullable=False),
    Column("segment_key", String(64)),
    UniqueConstraint("program_id", "campaign_id", "member_id"),
    Index("ix_campaign_members_member_id", "member_id"),
)

campaign_budgets = Table(
    "campaign_budgets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("points", Amount, nullable=False),
    Column("money", Amount, nullable=False),
    UniqueConstraint("program_id", "campaign_id"),
)

campaign_starts = Table(
    "campaign_starts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("starts", UTCDateTime, nullable=False),
    Column("announced_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "campaign_id"),
)
"""Campaigns whose start was announced (``hooks.CampaignStarted``): once per campaign,
however often the sweep runs or however many sweeps run at once."""
