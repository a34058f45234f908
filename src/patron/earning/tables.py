"""What the rule engine awarded, and the counters its limits and budgets read.

``awards`` attributes every point an event earned to the rule, program version
and purchase line that gave it, and to the ledger entry and lot holding it; a
return claws back from exactly those. ``rule_usage`` counts, per member, rule
and calendar period ("2026-03", "2026-W11", "lifetime"), what a rule gave, for
per-member limits; ``rule_budgets`` what a rule gave in total, for its budget.
Counters are updated in the transaction that writes the awards, under the
member's account lock (and the budget row's lock), so limits hold under
concurrency.

``order_returns`` records every returned line, so a line cannot be returned
twice; ``order_refunds`` every refund given as money alone, so refunds add up and
never pass the order's total.
"""

from sqlalchemy import (Boolean, Column, ForeignKey, Index, Integer, String, Table, Text,
                        UniqueConstraint)

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, UTCDateTime

awards = Table(
    "awards",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("entry_id", BigId, ForeignKey("ledger_entries.id"), nullable=False),
    Column("lot_id", BigId, ForeignKey("lots.id"), nullable=False),
    Column("program_version", Integer, nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("rule_name", String(120), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("line_index", Integer),
    Column("min_spend", Amount),
    Column("points", Amount, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("explanation", Text, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Index("ix_awards_event_id", "event_id"),
    Index("ix_awards_program_id_rule_id", "program_id", "rule_id"),
    Index("ix_awards_member_id", "member_id"),
)

rule_usage = Table(
    "rule_usage",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("period", String(16), nullable=False),
    Column("points", Amount, nullable=False),
    Column("awards", Integer, nullable=False),
    UniqueConstraint("member_id", "rule_id", "period"),
)

rule_budgets = Table(
    "rule_budgets",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("used", Amount, nullable=False),
    UniqueConstraint("program_id", "rule_id"),
)

order_returns = Table(
    "order_returns",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("order_pk", BigId, ForeignKey("orders.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("line_index", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_order_returns_order_pk", "order_pk"),
)

order_refunds = Table(
    "order_refunds",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("order_pk", BigId, ForeignKey("orders.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Index("ix_order_refunds_order_pk", "order_pk"),
)
