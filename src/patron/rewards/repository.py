"""Rewards queries: stock rows, redemptions, gifts earn rules gave, and donation totals."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from patron.db.engine import chunks, insert_rows, insert_rows_returning_ids, one_of, rows_of
from patron.events.tables import events, orders
from patron.rewards.domain import GIFT_CANCELLED, GIFT_GRANTED, remaining_after
from patron.rewards.tables import gift_grants, redemptions, reward_stock

ACTIVE = "active"
CANCELLED = "cancelled"


# --------------------------------------------------------------------------- stock

def stock_rows(conn: Connection, program_id: int, reward_ids: Iterable[str]) -> dict[str, Any]:
    ids = list(set(reward_ids))
    if not ids:
        return {}
    return {row.reward_id: row for row in conn.execute(select(reward_stock).where(
        reward_stock.c.program_id == program_id, reward_stock.c.reward_id.in_(ids)))}


def stock_row(conn: Connection, program_id: int, reward_id: str) -> Any:
    return conn.execute(select(reward_stock).where(reward_stock.c.program_id == program_id,
                                                   reward_stock.c.reward_id == reward_id)).first()


def take_unit(conn: Connection, program_id: int, reward_id: str, stock: int,
              now: datetime) -> bool:
    """Take one unit if one is left and the row follows the document's ``stock``.

    The guard makes two redemptions of the last unit impossible: on PostgreSQL
    the second waits for the first's row lock and then finds ``remaining = 0``;
    SQLite runs one writer at a time.
    """
    return bool(rows_of(conn, _TAKE_UNIT, dict(take_program=program_id, take_reward=reward_id,
                                               take_stock=stock, take_now=now)))


_TAKE_UNIT = update(reward_stock).where(
    reward_stock.c.program_id == bindparam("take_program"),
    reward_stock.c.reward_id == bindparam("take_reward"),
    reward_stock.c.stock == bindparam("take_stock"), reward_stock.c.remaining > 0).values(
    remaining=reward_stock.c.remaining - 1, redeemed=reward_stock.c.redeemed + 1,
    updated_at=bindparam("take_now", type_=reward_stock.c.updated_at.type)).returning(
    reward_stock.c.remaining)  # a row back: the unit was taken


def create_stock(conn: Connection, program_id: int, reward_id: str, stock: int,
                 now: datetime) -> None:
    """The row a reward's first redemption needs; a concurrent creator's row wins."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(reward_stock).values(
        program_id=program_id, reward_id=reward_id, stock=stock, redeemed=0, remaining=stock,
        updated_at=now).on_conflict_do_nothing())


def restock(conn: Connection, program_id: int, reward_id: str, *, old: int, new: int,
            redeemed: int, now: datetime) -> bool:
    """Follow a new version's stock figure; False if another transaction got there first."""
    result = conn.execute(update(reward_stock).where(
        reward_stock.c.program_id == program_id, reward_stock.c.reward_id == reward_id,
        reward_stock.c.stock == old, reward_stock.c.redeemed == redeemed).values(
        stock=new, remaining=remaining_after(new, redeemed), updated_at=now))
    return result.rowcount == 1


def lock_stock(conn: Connection, program_id: int, reward_ids: Iterable[str]) -> dict[str, Any]:
    """Stock rows, locked until commit (PostgreSQL) in reward id order.

    An ingest that may give several gifts locks them all up front, always in the
    same order, so two ingests never wait for each other crosswise.
    """
    ids = sorted(set(reward_ids))
    if not ids:
        return {}
    query = (select(reward_stock).where(reward_stock.c.program_id == program_id,
                                        reward_stock.c.reward_id.in_(ids))
             .order_by(reward_stock.c.reward_id))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return {row.reward_id: row for row in conn.execute(query)}


def return_unit(conn: Connection, program_id: int, reward_id: str, now: datetime) -> None:
    """A cancelled redemption's unit goes back on the shelf (if the stock still has room)."""
    left = reward_stock.c.stock - (reward_stock.c.redeemed - 1)
    conn.execute(update(reward_stock).where(
        reward_stock.c.program_id == program_id, reward_stock.c.reward_id == reward_id,
        reward_stock.c.redeemed > 0).values(
        redeemed=reward_stock.c.redeemed - 1, remaining=case((left > 0, left), else_=0),
        updated_at=now))


# --------------------------------------------------------------------------- redemptions

def insert_redemption(conn: Connection, row: dict[str, Any]) -> int:
    [redemption_id] = insert_rows_returning_ids(conn, redemptions, [row])
    return redemption_id


def redemption(conn: Connection, program_id: int, redemption_id: int, *,
               lock: bool = False) -> Any:
    query = select(redemptions).where(redemptions.c.program_id == program_id,
                                      redemptions.c.id == redemption_id)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


_REDEMPTION_BY_KEY = select(redemptions).where(
    redemptions.c.program_id == bindparam("by_program"),
    redemptions.c.member_id == bindparam("by_member"),
    redemptions.c.idempotency_key == bindparam("by_key"))


def redemption_by_key(conn: Connection, program_id: int, member_id: int, key: str) -> Any:
    found = rows_of(conn, _REDEMPTION_BY_KEY, dict(by_program=program_id, by_member=member_id,
                                                   by_key=key))
    return found[0] if found else None


def member_redemptions(conn: Connection, program_id: int, member_id: int,
                       before: int | None, limit: int) -> list[Any]:
    query = select(redemptions).where(redemptions.c.program_id == program_id,
                                      redemptions.c.member_id == member_id)
    if before is not None:
        query = query.where(redemptions.c.id < before)
    return list(conn.execute(query.order_by(redemptions.c.id.desc()).limit(limit)))


def standing_times(conn: Connection, program_id: int, member_id: int,
                   reward_ids: Iterable[str], since: datetime | None) -> dict[str, list[datetime]]:
    """When the member redeemed each reward (standing redemptions only), since ``since``."""
    ids = list(set(reward_ids))
    if not ids:
        return {}
    query = select(redemptions.c.reward_id, redemptions.c.created_at).where(
        redemptions.c.program_id == program_id, redemptions.c.member_id == member_id,
        redemptions.c.reward_id.in_(ids), redemptions.c.status == ACTIVE)
    if since is not None:
        query = query.where(redemptions.c.created_at >= since)
    found: dict[str, list[datetime]] = {}
    for reward_id, at in conn.execute(query):
        found.setdefault(reward_id, []).append(at)
    return found


def standing_times_of(conn: Connection, program_id: int, member_ids: Iterable[int],
                      reward_ids: Iterable[str], since: datetime | None
                      ) -> dict[int, dict[str, list[datetime]]]:
    """``standing_times`` of many members: member -> reward -> when they redeemed it."""
    ids = list(set(reward_ids))
    found: dict[int, dict[str, list[datetime]]] = {}
    if not ids:
        return found
    for chunk in chunks(set(member_ids)):
        query = select(redemptions.c.member_id, redemptions.c.reward_id,
                       redemptions.c.created_at).where(
            redemptions.c.program_id == program_id, one_of(conn, redemptions.c.member_id, chunk),
            redemptions.c.reward_id.in_(ids), redemptions.c.status == ACTIVE)
        if since is not None:
            query = query.where(redemptions.c.created_at >= since)
        for member_id, reward_id, at in conn.execute(query):
            found.setdefault(member_id, {}).setdefault(reward_id, []).append(at)
    return found


def set_fulfilment(conn: Connection, redemption_id: int, fulfilment: str) -> None:
    conn.execute(update(redemptions).where(redemptions.c.id == redemption_id,
                                           redemptions.c.status == ACTIVE)
                 .values(fulfilment=fulfilment))


def mark_cancelled(conn: Connection, redemption_id: int, *, now: datetime, reason: str,
                   refund_entry_id: int) -> None:
    conn.execute(update(redemptions).where(redemptions.c.id == redemption_id).values(
        status=CANCELLED, fulfilment=CANCELLED, cancelled_at=now, cancel_reason=reason,
        refund_entry_id=refund_entry_id))


def donation_totals(conn: Connection, program_id: int, since: datetime | None,
                    until: datetime | None) -> list[Any]:
    r = redemptions.c
    query = (select(r.cause, func.count().label("donations"),
                    func.count(r.member_id.distinct()).label("members"),
                    func.sum(r.cost_points).label("points"))
             .where(r.program_id == program_id, r.reward_type == "donation",
                    r.status == ACTIVE)
             .group_by(r.cause).order_by(func.sum(r.cost_points).desc(), r.cause))
    if since is not None:
        query = query.where(r.created_at >= since)
    if until is not None:
        query = query.where(r.created_at < until)
    return list(conn.execute(query))


# --------------------------------------------------------------------------- gift grants

def insert_gift_grants(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, gift_grants, rows)


def granted_gifts_of_event(conn: Connection, event_pk: int) -> list[Any]:
    """The gifts an event gave that still stand, locked (a return cancels them)."""
    query = (select(gift_grants).where(gift_grants.c.event_id == event_pk,
                                       gift_grants.c.status == GIFT_GRANTED)
             .order_by(gift_grants.c.id))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return list(conn.execute(query))


def _gift_view() -> Select[Any]:
    """A grant with the event that gave it, as integrators name it, and its order."""
    return (select(gift_grants, events.c.external_id.label("event_external_id"),
                   orders.c.order_id)
            .join(events, events.c.id == gift_grants.c.event_id)
            .outerjoin(orders, orders.c.event_id == gift_grants.c.event_id))


def gift_grant(conn: Connection, program_id: int, gift_id: int, *, lock: bool = False) -> Any:
    if lock and conn.dialect.name == "postgresql":
        conn.execute(select(gift_grants.c.id).where(
            gift_grants.c.program_id == program_id, gift_grants.c.id == gift_id)
            .with_for_update())
    return conn.execute(_gift_view().where(gift_grants.c.program_id == program_id,
                                           gift_grants.c.id == gift_id)).first()


def member_gift_grants(conn: Connection, program_id: int, member_id: int, before: int | None,
                       limit: int) -> list[Any]:
    query = _gift_view().where(gift_grants.c.program_id == program_id,
                               gift_grants.c.member_id == member_id)
    if before is not None:
        query = query.where(gift_grants.c.id < before)
    return list(conn.execute(query.order_by(gift_grants.c.id.desc()).limit(limit)))


def mark_gift_cancelled(conn: Connection, gift_id: int, *, now: datetime, reason: str,
                        fulfilment: str) -> None:
    conn.execute(update(gift_grants).where(gift_grants.c.id == gift_id).values(
        status=GIFT_CANCELLED, fulfilment=fulfilment, cancelled_at=now, cancel_reason=reason))


def set_gift_fulfilment(conn: Connection, gift_id: int, fulfilment: str) -> None:
    conn.execute(update(gift_grants).where(gift_grants.c.id == gift_id,
                                           gift_grants.c.status == GIFT_GRANTED)
                 .values(fulfilment=fulfilment))
