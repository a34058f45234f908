from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import Amount, BigId, JSONDoc, UTCDateTime

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("type", String(64), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("channel", String(64)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("data", JSONDoc, nullable=False),
    Column("outcome", JSONDoc, nullable=False),
    Column("identity_id", BigId, ForeignKey("identities.id")),
    # The identity the event named its member by (None: by member id). After a merge it
    # tells whose the event is: an undo gives the merged member back what came through
    # the identities it brought.
    UniqueConstraint("program_id", "external_id"),
    Index("ix_events_member_id_occurred_at", "member_id", "occurred_at"),
    Index("ix_events_program_id_type_occurred_at", "program_id", "type", "occurred_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("member_id", BigId, ForeignKey("members.id"), nullable=False),
    Column("event_id", BigId, ForeignKey("events.id"), nullable=False),
    Column("channel", String(64)),
    Column("store_id", String(100)),
    Column("currency", String(3), nullable=False),
    Column("total", Amount, nullable=False),
    Column("discount", Amount),
    Column("coupon_value", Amount),
    Column("occurred_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "order_id"),
    Index("ix_orders_member_id", "member_id"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_pk", BigId, ForeignKey("orders.id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("sku", String(200), nullable=False),
    Column("department", String(200)),
    Column("category", String(200)),
    Column("subcategory", String(200)),
    Column("brand", String(200)),
    Column("quantity", Integer, nullable=False),
    Column("amount", Amount, nullable=False),
    Column("discount", Amount),
    UniqueConstraint("order_pk", "line_no"),
)

event_data_pruning = Table(
    "event_data_pruning",
    metadata,
    Column("program_id", BigId, ForeignKey("programs.id"), primary_key=True,
           autoincrement=False),
    Column("through_event_id", BigId, nullable=False),
    Column("pruned_at", UTCDateTime, nullable=False),
)
"""How far the retention sweep has pruned a program's event payloads (``privacy.
keep_event_data_days``): every event up to ``through_event_id`` keeps only the fields
rules read, so each sweep starts where the last one stopped."""
