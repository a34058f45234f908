"""Wallet storage: one money account per member, its append-only entries, the
cashback held through a purchase's return window, and which rule and purchase line
each cashback came from (what a return takes back).

``wallet_accounts.balance`` is the projection of the posted ``wallet_entries``
(their sum) and ``pending`` that of the pending ones less the releases, both
maintained in the same transaction; spends take the balance with a guarded
UPDATE so two checkouts can never spend the same cent. A ``wallet_holds`` row is
what is left of one pending cashback credit until the release sweep makes it
spendable (like a pending lot of points).
"""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, JSONDoc, UTCDateTime

wallet_accounts = Table(
    "wallet_accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("balance", Amount, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("pending", Amount, nullable=False, server_default="0"),
    UniqueConstraint("program_id", "member_id"),
)

wallet_entries = Table(
    "wallet_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("account_id", BigId, ForeignKey("wallet_accounts.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("event_id", BigId, ForeignKey("events.id")),
    Column("order_id", String(200)),
    Column("idempotency_key", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("details", JSONDoc, nullable=False),
    Column("status", String(16), nullable=False, server_default="posted"),
    Column("available_at", UTCDateTime),
    UniqueConstraint("account_id", "idempotency_key"),
    Index("ix_wallet_entries_account_id_id", "account_id", "id"),
)

cashback_awards = Table(
    "cashback_awards",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("wallet_entry_id", BigId, ForeignKey("wallet_entries.id"), nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("rule_name", String(120), nullable=False),
    Column("line_index", Integer),
    Column("min_spend", Amount),
    Column("amount", Amount, nullable=False),
    Index("ix_cashback_awards_event_id", "event_id"),
    Index("ix_cashback_awards_member_id", "member_id"),
)

wallet_holds = Table(
    "wallet_holds",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("account_id", BigId, ForeignKey("wallet_accounts.id"), nullable=False),
    Column("entry_id", BigId, ForeignKey("wallet_entries.id"), nullable=False),
    Column("remaining", Amount, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    UniqueConstraint("entry_id"),
    Index("ix_wallet_holds_state_available_at", "state", "available_at"),
    Index("ix_wallet_holds_account_id", "account_id"),
)
