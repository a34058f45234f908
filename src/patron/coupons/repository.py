from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, select, text, update

from patron.coupons.tables import coupon_batches, coupon_redemptions, coupons
from patron.db.engine import chunks, insert_rows, one_of

LOOKUP_CHUNK = 10_000
"""Codes per lookup statement (SQLite takes at most 32,766 parameters)."""


def insert_batch(conn: Connection, **values: Any) -> int:
    return conn.execute(insert(coupon_batches).values(**values)
                        .returning(coupon_batches.c.id)).scalar_one()


def batch_row(conn: Connection, program_id: int, batch_id: int) -> Any:
    return conn.execute(select(coupon_batches).where(
        coupon_batches.c.program_id == program_id, coupon_batches.c.id == batch_id)).first()


def batch_stats(conn: Connection, batch_id: int) -> Any:
    return conn.execute(select(
        func.count().label("codes"),
        func.coalesce(func.sum(case((coupons.c.uses > 0, 1), else_=0)), 0).label("used"),
        func.coalesce(func.sum(coupons.c.uses), 0).label("uses"),
        func.coalesce(func.sum(case((coupons.c.state == "voided", 1), else_=0)), 0)
        .label("voided"),
        func.min(coupons.c.expires_at).label("expires_at"),
    ).where(coupons.c.batch_id == batch_id)).one()


def batch_page(conn: Connection, batch_id: int, after: int, limit: int) -> list[Any]:
    """The batch's codes by id, from just after ``after`` (keyset paging)."""
    return list(conn.execute(
        select(coupons.c.id, coupons.c.code, coupons.c.expires_at, coupons.c.uses_per_code,
               coupons.c.uses, coupons.c.state)
        .where(coupons.c.batch_id == batch_id, coupons.c.id > after)
        .order_by(coupons.c.id).limit(limit)))


def insert_coupons(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, coupons, rows)


def existing_codes(conn: Connection, program_id: int, codes: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(codes, LOOKUP_CHUNK):
        found.update(conn.execute(select(coupons.c.code).where(
            coupons.c.program_id == program_id, one_of(conn, coupons.c.code, chunk))).scalars())
    return found


# Checkout's statements are built once: a validation is one indexed read, and building
# the statement again on each call cost as much as the database round trip.
_CHECKOUT = select(coupons.c.id, coupons.c.code, coupons.c.coupon_type,
                   coupons.c.program_version, coupons.c.member_id, coupons.c.uses,
                   coupons.c.uses_per_code, coupons.c.state, coupons.c.expires_at)
_BY_CODE = _CHECKOUT.where(coupons.c.program_id == bindparam("program"),
                           coupons.c.code == bindparam("code"))
_BY_CODES = _CHECKOUT.where(coupons.c.program_id == bindparam("program"),
                            coupons.c.code.in_(bindparam("codes", expanding=True)))
_ROW = select(coupons).where(coupons.c.program_id == bindparam("program"),
                             coupons.c.code == bindparam("code"))
_LOCKED_ROW = _ROW.with_for_update()
_TAKE_USE = update(coupons).where(
    coupons.c.id == bindparam("coupon"), coupons.c.state == "active",
    coupons.c.uses < coupons.c.uses_per_code).values(uses=coupons.c.uses + 1)
_GIVE_BACK = update(coupons).where(coupons.c.id == bindparam("coupon"), coupons.c.uses > 0) \
    .values(uses=coupons.c.uses - 1)
_INSERT_REDEMPTION = insert(coupon_redemptions).returning(coupon_redemptions.c.id)
_release = coupon_redemptions.alias("release")
_REDEMPTIONS = select(coupon_redemptions, _release.c.recorded_at.label("released_at")) \
    .outerjoin(_release, _release.c.redemption_id == coupon_redemptions.c.id) \
    .where(coupon_redemptions.c.kind == "redeemed")
_LATEST = _REDEMPTIONS.where(coupon_redemptions.c.coupon_id == bindparam("coupon"),
                             coupon_redemptions.c.order_id == bindparam("order")) \
    .order_by(coupon_redemptions.c.id.desc()).limit(1)
_STANDING = _REDEMPTIONS.where(coupon_redemptions.c.program_id == bindparam("program"),
                               coupon_redemptions.c.order_id == bindparam("order"),
                               _release.c.id.is_(None)).order_by(coupon_redemptions.c.id)


def checkout_rows(conn: Connection, program_id: int, codes: Sequence[str]) -> dict[str, Any]:
    """What checkout needs of each code found, by canonical code."""
    if not codes:
        return {}
    if len(codes) == 1:
        rows = conn.execute(_BY_CODE, {"program": program_id, "code": codes[0]})
    else:
        rows = conn.execute(_BY_CODES, {"program": program_id, "codes": list(codes)})
    return {row.code: row for row in rows}


def coupon_row(conn: Connection, program_id: int, code: str, *, lock: bool = False) -> Any:
    """One code's row; ``lock`` holds it (on PostgreSQL) until the transaction ends."""
    return conn.execute(_LOCKED_ROW if lock else _ROW,
                        {"program": program_id, "code": code}).first()


def coupons_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {row.id: row for row in conn.execute(select(coupons).where(coupons.c.id.in_(ids)))}


def lock_order(conn: Connection, program_id: int, order_id: str) -> None:
    """Serialise the coupon writes of one order (SQLite serialises every writer already)."""
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"coupon-order:{program_id}:{order_id}".encode()).digest()
    conn.execute(_ADVISORY_LOCK, {"key": int.from_bytes(digest[:8], "big", signed=True)})


_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def take_use(conn: Connection, coupon_id: int) -> bool:
    """One more use, unless the code is voided or used up; False when it was."""
    return conn.execute(_TAKE_USE, {"coupon": coupon_id}).rowcount == 1


def give_back_use(conn: Connection, coupon_id: int) -> None:
    conn.execute(_GIVE_BACK, {"coupon": coupon_id})


def void(conn: Connection, coupon_id: int, now: datetime, reason: str) -> bool:
    """Void an unused code; False when it has a standing redemption."""
    result = conn.execute(update(coupons).where(
        coupons.c.id == coupon_id, coupons.c.uses == 0, coupons.c.state == "active")
        .values(state="voided", voided_at=now, void_reason=reason))
    return result.rowcount == 1


def insert_redemption(conn: Connection, **values: Any) -> int:
    return conn.execute(_INSERT_REDEMPTION, values).scalar_one()


def latest_redemption(conn: Connection, coupon_id: int, order_id: str) -> Any:
    """The order's last redemption of the code, with ``released_at`` (None: it stands)."""
    return conn.execute(_LATEST, {"coupon": coupon_id, "order": order_id}).first()


def standing_redemptions(conn: Connection, program_id: int, order_id: str) -> list[Any]:
    """The order's redemptions that were not released, oldest first."""
    return list(conn.execute(_STANDING, {"program": program_id, "order": order_id}))
