"""Referral codes and referrals.

Every member may have one referral code. A ``referrals`` row is one referred
member (at most one per member): attributed when they sign up with a code,
``qualified`` by their first qualifying purchase, ``paid`` once that purchase is
past the return window, or ``refused``/``void`` with the reason.
"""

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, UTCDateTime

referral_codes = Table(
    "referral_codes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "code"),
    UniqueConstraint("program_id", "member_id"),
)

referrals = Table(
    "referrals",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("referrer_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("referee_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text),
    Column("attributed_at", UTCDateTime, nullable=False),
    Column("order_id", String(200)),
    Column("qualified_at", UTCDateTime),
    Column("pay_after", UTCDateTime),
    Column("settled_at", UTCDateTime),
    UniqueConstraint("program_id", "referee_id"),
    Index("ix_referrals_referrer_id_attributed_at", "referrer_id", "attributed_at"),
    Index("ix_referrals_state_pay_after", "state", "pay_after"),
)
