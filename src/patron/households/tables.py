"""Household storage.

``households`` names the pool account each household holds (an ordinary ledger
account, see ``patron.ledger.tables``). ``household_members`` is who belongs now,
one row per member: ``UNIQUE(member_id)`` is what keeps a member in at most one
household, whatever requests race. ``household_member_periods`` is the history:
one row per stretch a member spent in a household with one role, closed with
the time and the reason it ended.
"""

from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, UTCDateTime

households = Table(
    "households",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("account_id", BigId, ForeignKey("accounts.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("dissolved_at", UTCDateTime),
    UniqueConstraint("account_id"),
    Index("ix_households_program_id_id", "program_id", "id"),
)

household_members = Table(
    "household_members",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("household_id", BigId, ForeignKey("households.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    UniqueConstraint("member_id"),
    Index("ix_household_members_household_id", "household_id"),
)

household_member_periods = Table(
    "household_member_periods",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("household_id", BigId, ForeignKey("households.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("joined_at", UTCDateTime, nullable=False),
    Column("left_at", UTCDateTime),
    Column("end_reason", String(16)),
    Column("actor", String(100), nullable=False),
    Index("ix_household_member_periods_household_id_joined_at", "household_id", "joined_at"),
    Index("ix_household_member_periods_member_id", "member_id"),
)
