"""Coupon storage: batches, codes, and the append-only record of redemptions.

``coupons.uses`` counts the redemptions that stand (redeemed and not released);
it is the projection of ``coupon_redemptions`` kept in the same transaction, and
a guarded ``UPDATE … WHERE uses < uses_per_code`` takes a use, so two checkouts
can never both redeem a single-use code. ``uses_per_code``, ``expires_at`` and
``program_version`` are fixed when a code is issued: a code keeps the terms it
was printed with, whatever later versions of the program say.
"""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, UTCDateTime

coupon_batches = Table(
    "coupon_batches",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("coupon_type", String(64), nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("name", String(200)),
    Column("count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
)

coupons = Table(
    "coupons",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("code", String(40), nullable=False),
    Column("coupon_type", String(64), nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("batch_id", BigId, ForeignKey("coupon_batches.id")),
    Column("member_id", BigId, ForeignKey("members.id")),
    Column("source", String(200)),
    Column("uses_per_code", Integer, nullable=False),
    Column("uses", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("voided_at", UTCDateTime),
    Column("void_reason", Text),
    UniqueConstraint("program_id", "code"),
    Index("ix_coupons_batch_id", "batch_id"),
    Index("ix_coupons_member_id", "member_id"),
)

coupon_redemptions = Table(
    "coupon_redemptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("coupon_id", BigId, ForeignKey("coupons.id"), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("redemption_id", BigId, ForeignKey("coupon_redemptions.id")),
    Column("member_id", BigId, ForeignKey("members.id")),
    Column("currency", String(3), nullable=False),
    Column("subtotal", Amount, nullable=False),
    Column("shipping", Amount, nullable=False),
    Column("discount", Amount, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("redemption_id"),
    Index("ix_coupon_redemptions_program_id_order_id", "program_id", "order_id"),
    Index("ix_coupon_redemptions_coupon_id", "coupon_id"),
)
