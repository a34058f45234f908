"""Ledger storage.

``ledger_entries`` is append-only: amounts are never updated; a correction is a
new entry. ``accounts`` holds the balances as a projection of the entries,
maintained in the same transaction and guarded so it can never go below what
the ledger allows. ``lots`` are the earn entries' remainders, consumed
soonest-expiring first; ``lot_moves`` records which lots every entry touched;
``lot_transfers`` links a lot handed to another account to its copy there.

An account belongs to one member (``member_id``). A household's pool is an
account too, held by the household's own member row (status ``household``); its
entries name the member of the household each one is for.
"""

from sqlalchemy import Column, Date, ForeignKey, Index, String, Table, Text, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, JSONDoc, UTCDateTime

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("available", Amount, nullable=False),
    Column("pending", Amount, nullable=False),
    Column("lifetime_earned", Amount, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "member_id"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("account_id", BigId, ForeignKey("accounts.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("points", Amount, nullable=False),
    Column("status", String(16), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime),
    Column("event_id", BigId, ForeignKey("events.id")),
    Column("idempotency_key", String(200), nullable=False),
    Column("order_id", String(200)),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("details", JSONDoc, nullable=False),
    UniqueConstraint("account_id", "idempotency_key"),
    Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    Index("ix_ledger_entries_program_id_occurred_at", "program_id", "occurred_at"),
)

lots = Table(
    "lots",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("account_id", BigId, ForeignKey("accounts.id"), nullable=False),
    Column("entry_id", BigId, ForeignKey("ledger_entries.id"), nullable=False),
    Column("points", Amount, nullable=False),
    Column("remaining", Amount, nullable=False),
    Column("state", String(16), nullable=False),
    Column("earned_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Index("ix_lots_account_id_state", "account_id", "state"),
    Index("ix_lots_state_available_at", "state", "available_at"),
    Index("ix_lots_state_expires_at", "state", "expires_at"),
)

lot_moves = Table(
    "lot_moves",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entry_id", BigId, ForeignKey("ledger_entries.id"), nullable=False),
    Column("lot_id", BigId, ForeignKey("lots.id"), nullable=False),
    Column("points", Amount, nullable=False),
    Index("ix_lot_moves_entry_id", "entry_id"),
    Index("ix_lot_moves_lot_id", "lot_id"),
)

lot_transfers = Table(
    "lot_transfers",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("from_lot_id", BigId, ForeignKey("lots.id"), nullable=False),
    Column("to_lot_id", BigId, ForeignKey("lots.id"), nullable=False),
    Column("entry_id", BigId, ForeignKey("ledger_entries.id"), nullable=False),
    UniqueConstraint("from_lot_id"),
)
"""Where a transferred lot's remainder went, so a return of the purchase that earned it
still finds its points (pending points first) in the account that now holds them."""

expiry_notices = Table(
    "expiry_notices",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("account_id", BigId, ForeignKey("accounts.id"), nullable=False),
    Column("member_id", BigId, nullable=False),
    Column("day", Date, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("points", Amount, nullable=False),
    Column("noticed_at", UTCDateTime, nullable=False),
    UniqueConstraint("account_id", "day"),
)
"""Points that will expire soon, told once per account and expiry day (the day in the
program's timezone), so the expiry sweep's notices (``hooks.PointsExpiringSoon``) are
never repeated however often it runs."""
