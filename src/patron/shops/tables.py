from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint

from patron.db.metadata import metadata
from patron.db.types import BigId, JSONDoc, UTCDateTime

shop_connections = Table(
    "shop_connections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("shop", String(100), nullable=False),
    Column("secret", String(200), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("store_id", String(100)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime),
    UniqueConstraint("program_id", "platform", "shop"),
)
"""A shop sending its order webhooks to a program. ``secret`` signs them (HMAC-SHA256);
it is kept as given, since verifying needs it, and never shown again. ``channel`` and
``store_id`` are what the shop's purchases are recorded with. A removed connection keeps
its row (its orders name it) and answers its webhooks 404; connecting the shop again
brings the row back with the new secret."""

shop_orders = Table(
    "shop_orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("program_id", BigId, ForeignKey("programs.id"), nullable=False),
    Column("connection_id", BigId, ForeignKey("shop_connections.id"), nullable=False),
    Column("order_id", String(200), nullable=False),
    Column("line_ids", JSONDoc, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("program_id", "order_id"),
    Index("ix_shop_orders_connection_id", "connection_id"),
)
"""An order a shop sent, as Patron recorded it (``orders.order_id``), with the shop's
line ids in the order of its lines: a refund names lines by the shop's ids, a return by
their place in the order."""
