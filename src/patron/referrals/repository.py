from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, insert, select, update

from patron.db.engine import DIALECTS, one_of_param, one_of_rows
from patron.earning.tables import order_returns
from patron.events.tables import events, order_lines, orders
from patron.members.tables import identities, members
from patron.referrals.tables import referral_codes, referrals


def code_of(conn: Connection, program_id: int, member_id: int) -> str | None:
    return conn.execute(select(referral_codes.c.code).where(
        referral_codes.c.program_id == program_id,
        referral_codes.c.member_id == member_id)).scalar()


def owner_of(conn: Connection, program_id: int, code: str) -> int | None:
    return conn.execute(select(referral_codes.c.member_id).where(
        referral_codes.c.program_id == program_id, referral_codes.c.code == code)).scalar()


def insert_code(conn: Connection, program_id: int, member_id: int, code: str,
                now: datetime) -> None:
    conn.execute(insert(referral_codes).values(program_id=program_id, member_id=member_id,
                                               code=code, created_at=now))


def referral_of(conn: Connection, program_id: int, referee_id: int) -> Any:
    return conn.execute(select(referrals).where(referrals.c.program_id == program_id,
                                                referrals.c.referee_id == referee_id)).first()


def insert_referral(conn: Connection, **values: Any) -> None:
    conn.execute(insert(referrals).values(**values))


def update_referral(conn: Connection, referral_id: int, **values: Any) -> None:
    conn.execute(update(referrals).where(referrals.c.id == referral_id).values(**values))


def counted_since(conn: Connection, referrer_id: int, since: datetime | None) -> int:
    query = select(func.count()).select_from(referrals).where(
        referrals.c.referrer_id == referrer_id,
        referrals.c.state.in_(["pending", "qualified", "paid"]))
    if since is not None:
        query = query.where(referrals.c.attributed_at >= since)
    return conn.execute(query).scalar_one()


def identity_values(conn: Connection, member_id: int) -> set[str]:
    return set(conn.execute(select(identities.c.value).where(
        identities.c.member_id == member_id)).scalars())


def joined_at(conn: Connection, member_id: int) -> datetime:
    return conn.execute(select(members.c.created_at).where(members.c.id == member_id)
                        ).scalar_one()


def purchases_before(conn: Connection, member_id: int, before: datetime) -> int:
    return conn.execute(select(func.count()).select_from(events).where(
        events.c.member_id == member_id, events.c.type == "purchase",
        events.c.occurred_at < before)).scalar_one()


def _pending(dialect: str, few: int = 0) -> Select[Any]:
    return select(referrals).where(referrals.c.program_id == bindparam("program_id"),
                                   referrals.c.state == "pending",
                                   one_of_param(dialect, referrals.c.referee_id, "ids", few))


_PENDING = {dialect: _pending(dialect) for dialect in DIALECTS}  # asked for every event
_ONE_PENDING = {1: _pending("postgresql", 1)}
"""A single event's member: a statement of its own, which PostgreSQL plans once."""


def pending_for(conn: Connection, program_id: int, member_ids: Iterable[int]) -> dict[int, Any]:
    return {row.referee_id: row for row in one_of_rows(
        conn, _PENDING[conn.dialect.name], _ONE_PENDING, "ids", list(set(member_ids)),
        program_id=program_id)}


def due(conn: Connection, program_id: int, now: datetime, limit: int) -> list[Any]:
    query = (select(referrals).where(referrals.c.program_id == program_id,
                                     referrals.c.state == "qualified",
                                     referrals.c.pay_after <= now)
             .order_by(referrals.c.id).limit(limit))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def fully_returned(conn: Connection, program_id: int, order_id: str) -> bool:
    order = conn.execute(select(orders.c.id).where(orders.c.program_id == program_id,
                                                   orders.c.order_id == order_id)).scalar()
    if order is None:
        return True
    bought = conn.execute(select(func.coalesce(func.sum(order_lines.c.quantity), 0)).where(
        order_lines.c.order_pk == order)).scalar_one() or 1
    back = conn.execute(select(func.coalesce(func.sum(order_returns.c.quantity), 0)).where(
        order_returns.c.order_pk == order)).scalar_one()
    return back >= bought


def of_referrer(conn: Connection, program_id: int, referrer_id: int, limit: int) -> list[Any]:
    return list(conn.execute(select(referrals).where(
        referrals.c.program_id == program_id, referrals.c.referrer_id == referrer_id)
        .order_by(referrals.c.id.desc()).limit(limit)))
