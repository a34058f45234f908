from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from patron.events.tables import events, order_lines, orders

CHUNK = 500


def outcomes_by_external_id(conn: Connection, program_id: int,
                            ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = list(set(ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), CHUNK):
        for row in conn.execute(select(events.c.external_id, events.c.outcome).where(
                events.c.program_id == program_id,
                events.c.external_id.in_(wanted[start:start + CHUNK]))):
            found[row.external_id] = row.outcome
    return found


def known_orders(conn: Connection, program_id: int, order_ids: Iterable[str]) -> set[str]:
    wanted = list(set(order_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), CHUNK):
        found.update(conn.execute(select(orders.c.order_id).where(
            orders.c.program_id == program_id,
            orders.c.order_id.in_(wanted[start:start + CHUNK]))).scalars())
    return found


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    result = conn.execute(insert(events).returning(events.c.id, sort_by_parameter_order=True),
                          list(rows))
    return [r.id for r in result]


def insert_orders(conn: Connection, rows: Sequence[dict[str, Any]],
                  lines: Sequence[list[dict[str, Any]]]) -> None:
    if not rows:
        return
    result = conn.execute(insert(orders).returning(orders.c.id, sort_by_parameter_order=True),
                          list(rows))
    line_rows = [dict(line, order_pk=r.id) for r, order_lines_ in zip(result, lines)
                 for line in order_lines_]
    if line_rows:
        conn.execute(insert(order_lines), line_rows)
