"""Point transfer queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, text, update

from patron.ledger.tables import accounts, lots
from patron.members.tables import members
from patron.transfers.tables import point_transfers


def member_statuses(conn: Connection, program_id: int, member_ids: Iterable[int]
                    ) -> dict[int, str]:
    return {row.id: row.status for row in conn.execute(
        select(members.c.id, members.c.status).where(members.c.program_id == program_id,
                                                     members.c.id.in_(list(member_ids))))}


def lock_own_accounts(conn: Connection, program_id: int, member_ids: Iterable[int]) -> None:
    """Take the members' own account row locks, in id order (PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(accounts.c.id).where(
            accounts.c.program_id == program_id, accounts.c.member_id.in_(list(member_ids)))
            .order_by(accounts.c.id).with_for_update())


def next_transfer_id(conn: Connection) -> int:
    """The id the next transfer gets, drawn before its ledger entries so they can name it.

    PostgreSQL draws it from the column's sequence. SQLite's write transactions
    run one at a time (``BEGIN IMMEDIATE``), so the next id after the highest is
    the one no other writer can take, as SQLite itself picks a rowid.
    """
    if conn.dialect.name == "postgresql":
        return conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('point_transfers', 'id'))")).scalar_one()
    return conn.execute(select(func.coalesce(func.max(point_transfers.c.id), 0) + 1)
                        ).scalar_one()


def insert_transfer(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(point_transfers), [row])


def transfer_by_key(conn: Connection, program_id: int, from_member_id: int, key: str) -> Any:
    return conn.execute(select(point_transfers).where(
        point_transfers.c.program_id == program_id,
        point_transfers.c.from_member_id == from_member_id,
        point_transfers.c.idempotency_key == key)).first()


def sent_on(conn: Connection, program_id: int, from_member_id: int, day: date) -> int:
    """Points the member sent on ``day`` (in the program's timezone)."""
    return int(conn.execute(select(func.coalesce(func.sum(point_transfers.c.points), 0)).where(
        point_transfers.c.program_id == program_id,
        point_transfers.c.from_member_id == from_member_id,
        point_transfers.c.local_day == day.isoformat())).scalar_one())


def member_transfers(conn: Connection, program_id: int, member_id: int, before: int | None,
                     limit: int) -> list[Any]:
    """Transfers the member sent or received, newest first."""
    query = select(point_transfers).where(
        point_transfers.c.program_id == program_id,
        or_(point_transfers.c.from_member_id == member_id,
            point_transfers.c.to_member_id == member_id))
    if before is not None:
        query = query.where(point_transfers.c.id < before)
    return list(conn.execute(query.order_by(point_transfers.c.id.desc()).limit(limit)))


def lots_of_entry(conn: Connection, entry_id: int) -> list[Any]:
    """The lots an entry created: a transfer's pieces on the receiving side."""
    return list(conn.execute(select(lots.c.id, lots.c.points, lots.c.expires_at)
                             .where(lots.c.entry_id == entry_id).order_by(lots.c.id)))


def clear_messages(conn: Connection, program_id: int, member_ids: Iterable[int]) -> list[int]:
    """Drop the messages of transfers the members sent or received; the ledger entries of
    those transfers (which quote them)."""
    ids = list(member_ids)
    involved = (point_transfers.c.program_id == program_id,
                or_(point_transfers.c.from_member_id.in_(ids),
                    point_transfers.c.to_member_id.in_(ids)),
                point_transfers.c.message.is_not(None))
    rows = conn.execute(select(point_transfers.c.out_entry_id, point_transfers.c.in_entry_id)
                        .where(*involved)).all()
    conn.execute(update(point_transfers).where(*involved).values(message=None))
    return [entry for row in rows for entry in (row.out_entry_id, row.in_entry_id)
            if entry is not None]
