"""Events and orders as recorded: the queries ingest, returns and reports run on them.

Ingest itself is a flow (``patron.flows.ingest``); this module only reads and writes
the ``events``, ``orders`` and ``order_lines`` tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, update

from patron.db.engine import (DIALECTS, chunks, insert_rows, insert_rows_returning_ids, one_of,
                              one_of_rows, probe_each)
from patron.events.tables import event_data_pruning, events, order_lines, orders


def _by_external_id(dialect: str, few: int = 0) -> Select[Any]:
    return probe_each(dialect, select(
        events.c.external_id, events.c.type, events.c.member_id, events.c.channel,
        events.c.occurred_at, events.c.data, events.c.outcome).where(
            events.c.program_id == bindparam("program_id")), events.c.external_id, "ids", few)


def _known_orders(dialect: str, few: int = 0) -> Select[Any]:
    return probe_each(dialect, select(orders.c.order_id).where(
        orders.c.program_id == bindparam("program_id")), orders.c.order_id, "ids", few)


# Every event asks both, so they are built once; a single event's own id and order go
# through a statement of their own, which PostgreSQL plans once (with the array form it
# planned them anew on every run: ``benchmarks/profiles/single_event.md``).
_BY_EXTERNAL_ID = {dialect: _by_external_id(dialect) for dialect in DIALECTS}
_ONE_EXTERNAL_ID = {1: _by_external_id("postgresql", 1)}
_KNOWN_ORDERS = {dialect: _known_orders(dialect) for dialect in DIALECTS}
_ONE_ORDER = {1: _known_orders("postgresql", 1)}


def recorded_events(conn: Connection, program_id: int, ids: Iterable[str]) -> dict[str, Any]:
    """The events recorded under these ids, by id: what defines each, and its outcome."""
    return {row.external_id: row for row in one_of_rows(
        conn, _BY_EXTERNAL_ID[conn.dialect.name], _ONE_EXTERNAL_ID, "ids", list(set(ids)),
        program_id=program_id)}


def known_orders(conn: Connection, program_id: int, order_ids: Iterable[str]) -> set[str]:
    return set(row.order_id for row in one_of_rows(
        conn, _KNOWN_ORDERS[conn.dialect.name], _ONE_ORDER, "ids", list(set(order_ids)),
        program_id=program_id))


def insert_events(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    return insert_rows_returning_ids(conn, events, rows)


def insert_orders(conn: Connection, rows: Sequence[dict[str, Any]],
                  lines: Sequence[list[dict[str, Any]]]) -> None:
    order_pks = insert_rows_returning_ids(conn, orders, rows)
    insert_rows(conn, order_lines, [dict(line, order_pk=pk) for pk, order_lines_ in
                                    zip(order_pks, lines) for line in order_lines_])


def set_outcome(conn: Connection, event_pk: int, outcome: dict[str, Any]) -> None:
    """A return's outcome is known once its clawback is written (the event row comes first)."""
    conn.execute(update(events).where(events.c.id == event_pk).values(outcome=outcome))


def names_of(conn: Connection, event_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """``event row id -> (external id, type)``: how ledger lines name their events."""
    found: dict[int, tuple[str, str]] = {}
    for chunk in chunks(set(event_ids)):
        for row in conn.execute(select(events.c.id, events.c.external_id, events.c.type)
                                .where(one_of(conn, events.c.id, chunk))):
            found[row.id] = (row.external_id, row.type)
    return found


def orders_by_channel(conn: Connection, program_id: int, member_id: int) -> list[Any]:
    """The member's orders per channel and currency: ``channel``, ``currency``,
    ``orders`` (count) and ``spend`` (sum of totals, minor units), most orders first."""
    count, spend = func.count(orders.c.id), func.coalesce(func.sum(orders.c.total), 0)
    return list(conn.execute(
        select(orders.c.channel, orders.c.currency, count.label("orders"),
               spend.label("spend"))
        .where(orders.c.program_id == program_id, orders.c.member_id == member_id)
        .group_by(orders.c.channel, orders.c.currency)
        .order_by(count.desc(), orders.c.channel, orders.c.currency)))


def event_data_of_members(conn: Connection, program_id: int, member_ids: Sequence[int]
                          ) -> list[Any]:
    """Id, type and data of every event of the members."""
    found: list[Any] = []
    for chunk in chunks(list(member_ids)):
        found.extend(conn.execute(select(events.c.id, events.c.type, events.c.data).where(
            events.c.program_id == program_id, events.c.member_id.in_(chunk))))
    return found


def events_after(conn: Connection, program_id: int, after: int, limit: int) -> list[Any]:
    """Id, type, data and receipt of the program's next events after id ``after``."""
    return list(conn.execute(
        select(events.c.id, events.c.type, events.c.data, events.c.received_at)
        .where(events.c.program_id == program_id, events.c.id > after)
        .order_by(events.c.id).limit(limit)))


def set_data(conn: Connection, changed: Sequence[tuple[int, Any]]) -> None:
    if changed:
        conn.execute(update(events).where(events.c.id == bindparam("event"))
                     .values(data=bindparam("pruned")),
                     [{"event": event_id, "pruned": data} for event_id, data in changed])


def pruned_through(conn: Connection, program_id: int) -> int:
    """The last event id whose payload the retention sweep pruned (0: none yet)."""
    return conn.execute(select(event_data_pruning.c.through_event_id).where(
        event_data_pruning.c.program_id == program_id)).scalar() or 0


def set_pruned_through(conn: Connection, program_id: int, event_id: int, now: Any) -> None:
    done = conn.execute(update(event_data_pruning).where(
        event_data_pruning.c.program_id == program_id).values(
        through_event_id=event_id, pruned_at=now)).rowcount
    if not done:
        conn.execute(event_data_pruning.insert().values(
            program_id=program_id, through_event_id=event_id, pruned_at=now))
