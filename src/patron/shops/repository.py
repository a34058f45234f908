"""Shop connections and shop orders as stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from patron.shops.tables import shop_connections, shop_orders


def connection_row(conn: Connection, connection_id: int) -> Any:
    return conn.execute(select(shop_connections).where(
        shop_connections.c.id == connection_id)).first()


def connection_of_shop(conn: Connection, program_id: int, platform: str, shop: str) -> Any:
    return conn.execute(select(shop_connections).where(
        shop_connections.c.program_id == program_id, shop_connections.c.platform == platform,
        shop_connections.c.shop == shop)).first()


def active_connections(conn: Connection, program_id: int) -> list[Any]:
    return list(conn.execute(select(shop_connections).where(
        shop_connections.c.program_id == program_id,
        shop_connections.c.removed_at.is_(None)).order_by(shop_connections.c.id)))


def insert_connection(conn: Connection, row: dict[str, Any]) -> int:
    return conn.execute(insert(shop_connections).returning(shop_connections.c.id),
                        row).scalar_one()


def reconnect(conn: Connection, connection_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(shop_connections).where(shop_connections.c.id == connection_id)
                 .values(removed_at=None, **values))


def remove_connection(conn: Connection, connection_id: int, now: datetime) -> None:
    conn.execute(update(shop_connections).where(shop_connections.c.id == connection_id,
                                                shop_connections.c.removed_at.is_(None))
                 .values(removed_at=now))


def line_ids_of(conn: Connection, program_id: int, order_id: str) -> list[str] | None:
    """The shop's line ids of a recorded order, in the order's line order (None: Patron
    recorded no such shop order)."""
    return conn.execute(select(shop_orders.c.line_ids).where(
        shop_orders.c.program_id == program_id,
        shop_orders.c.order_id == order_id)).scalar_one_or_none()


def insert_shop_order(conn: Connection, *, program_id: int, connection_id: int, order_id: str,
                      line_ids: Sequence[str], now: datetime) -> None:
    conn.execute(insert(shop_orders).values(program_id=program_id, connection_id=connection_id,
                                            order_id=order_id, line_ids=list(line_ids),
                                            created_at=now))
