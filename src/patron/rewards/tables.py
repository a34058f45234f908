"""Rewards storage: stock per reward, and every redemption.

``reward_stock`` holds the units of a stocked reward (places, for an
experience). ``stock`` is the document's figure the row was last brought in
line with, ``redeemed`` the units that redemptions hold now (a cancellation
gives one back) and ``remaining`` = max(stock - redeemed, 0), the column a
redemption takes a unit from with a guarded ``UPDATE … WHERE remaining > 0``, so
stock can never go below zero however many members redeem at once.

``redemptions`` is one row per redemption: what was redeemed (the reward's
name, type and price as they were then), the ledger entry that paid for it,
what it produced (a coupon code, cashback, a donation's cause), and its
cancellation. ``(program_id, member_id, idempotency_key)`` is unique, so a
retried request finds the first redemption instead of making a second.

``gift_grants`` is one row per gift an earn rule gave with a purchase: free,
taking a unit of the catalog gift's stock like a redemption does. It names the
event and rule that gave it; a return that takes the purchase below the rule
cancels it and gives the unit back. ``(event_id, rule_id)`` is unique: a rule
gives one gift per event.
"""

from sqlalchemy import (Boolean, Column, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint)

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, UTCDateTime

reward_stock = Table(
    "reward_stock",
    metadata,
    Column("program_id", BigId, ForeignKey("programs.id"), primary_key=True),
    Column("reward_id", String(64), primary_key=True),
    Column("stock", Amount, nullable=False),
    Column("redeemed", Amount, nullable=False),
    Column("remaining", Amount, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

redemptions = Table(
    "redemptions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("account_id", BigId, ForeignKey("accounts.id"), nullable=False),
    Column("reward_id", String(64), nullable=False),
    Column("reward_type", String(16), nullable=False),
    Column("reward_name", String(200), nullable=False),
    Column("cost_points", Amount, nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("idempotency_key", String(150), nullable=False),
    Column("status", String(16), nullable=False),
    Column("fulfilment", String(32), nullable=False),
    Column("entry_id", BigId, ForeignKey("ledger_entries.id"), nullable=False),
    Column("took_stock", Boolean, nullable=False),
    Column("coupon_code", String(64)),
    Column("coupon_expires_at", UTCDateTime),
    Column("cashback_amount", Amount),
    Column("currency", String(3)),
    Column("wallet_entry_id", BigId),
    Column("cause", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("cancelled_at", UTCDateTime),
    Column("cancel_reason", Text),
    Column("refund_entry_id", BigId, ForeignKey("ledger_entries.id")),
    UniqueConstraint("program_id", "member_id", "idempotency_key"),
    Index("ix_redemptions_member_id_id", "member_id", "id"),
    Index("ix_redemptions_program_id_reward_type", "program_id", "reward_type"),
)

gift_grants = Table(
    "gift_grants",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("rule_name", String(120), nullable=False),
    Column("reward_id", String(64), nullable=False),
    Column("reward_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("fulfilment", String(32), nullable=False),
    Column("explanation", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("cancelled_at", UTCDateTime),
    Column("cancel_reason", Text),
    UniqueConstraint("event_id", "rule_id"),
    Index("ix_gift_grants_member_id_id", "member_id", "id"),
    Index("ix_gift_grants_program_id_reward_id", "program_id", "reward_id"),
)
