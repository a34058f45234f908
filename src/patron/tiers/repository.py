"""Tier storage: qualification entries, states and changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from patron.db.engine import (DIALECTS, chunks, insert_rows, one_of, one_of_param,
                              one_of_rows)
from patron.members.tables import members
from patron.tiers.tables import qualification_entries, tier_changes, tier_states



def joined_at(conn: Connection, member_ids: Iterable[int]) -> dict[int, datetime]:
    found: dict[int, datetime] = {}
    for chunk in chunks(set(member_ids)):
        found.update(conn.execute(select(members.c.id, members.c.created_at)
                                  .where(one_of(conn, members.c.id, chunk))).all())
    return found


def states(conn: Connection, program_id: int, member_ids: Iterable[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for chunk in chunks(set(member_ids)):
        for row in conn.execute(select(tier_states).where(
                tier_states.c.program_id == program_id,
                one_of(conn, tier_states.c.member_id, chunk))):
            found[row.member_id] = row
    return found


def _joined_and_states(dialect: str, few: int = 0) -> Any:
    return select(members.c.id.label("joined_member_id"),
                  members.c.created_at.label("joined_at"), tier_states).select_from(
        members.outerjoin(tier_states, (tier_states.c.member_id == members.c.id)
                          & (tier_states.c.program_id == bindparam("program_id")))).where(
        one_of_param(dialect, members.c.id, "ids", few))


_JOINED_AND_STATES = {dialect: _joined_and_states(dialect) for dialect in DIALECTS}
"""Built once: it runs for every event of a program with tiers."""
_ONE_MEMBER = {1: _joined_and_states("postgresql", 1)}
"""A single event's member: with the array form PostgreSQL planned it anew on every run."""


def joined_and_states(conn: Connection, program_id: int, member_ids: Iterable[int]
                      ) -> tuple[dict[int, datetime], dict[int, Any]]:
    """``joined_at`` and ``states`` in one statement: each member's join time, and the
    tier states of those who have one."""
    joined: dict[int, datetime] = {}
    found: dict[int, Any] = {}
    for row in one_of_rows(conn, _JOINED_AND_STATES[conn.dialect.name], _ONE_MEMBER, "ids",
                           list(set(member_ids)), program_id=program_id):
        joined[row.joined_member_id] = row.joined_at
        if row.member_id is not None:
            found[row.member_id] = row
    return joined, found


def entries_since(conn: Connection, member_ids: Iterable[int], metric: str,
                  since: datetime) -> dict[int, list[tuple[datetime, int]]]:
    found: dict[int, list[tuple[datetime, int]]] = {}
    for chunk in chunks(set(member_ids)):
        for member_id, at, amount in conn.execute(
                select(qualification_entries.c.member_id, qualification_entries.c.occurred_at,
                       qualification_entries.c.amount)
                .where(one_of(conn, qualification_entries.c.member_id, chunk),
                       qualification_entries.c.metric == metric,
                       qualification_entries.c.occurred_at >= since)):
            found.setdefault(member_id, []).append((at, amount))
    return found


def insert_entries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, qualification_entries, rows)


def insert_state(conn: Connection, **values: Any) -> None:
    insert_rows(conn, tier_states, [values])


def update_state(conn: Connection, program_id: int, member_id: int, **values: Any) -> None:
    conn.execute(update(tier_states).where(tier_states.c.program_id == program_id,
                                           tier_states.c.member_id == member_id).values(**values))


def insert_changes(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows with the same keys (``insert_rows``)."""
    insert_rows(conn, tier_changes, rows)


def history(conn: Connection, program_id: int, member_id: int, limit: int = 50) -> list[Any]:
    return list(conn.execute(select(tier_changes).where(
        tier_changes.c.program_id == program_id, tier_changes.c.member_id == member_id)
        .order_by(tier_changes.c.at.desc(), tier_changes.c.id.desc()).limit(limit)))


def due_for_review(conn: Connection, program_id: int, before: datetime, limit: int) -> list[Any]:
    """States whose secured period ended before ``before`` or whose manual tier ran out."""
    return list(conn.execute(select(tier_states).where(
        tier_states.c.program_id == program_id,
        (tier_states.c.secured_until <= before) | (tier_states.c.manual_until <= before))
        .order_by(tier_states.c.id).limit(limit)))


def program_states(conn: Connection, program_id: int) -> list[Any]:
    """Every active member of the program (merged ones left out) with their tier state's
    earned and manual tiers, ``None`` for members no event has placed yet."""
    return conn.execute(
        select(members.c.id.label("member_id"), tier_states.c.tier_id,
               tier_states.c.manual_tier_id, tier_states.c.manual_until)
        .select_from(members.outerjoin(tier_states, (tier_states.c.member_id == members.c.id)
                                       & (tier_states.c.program_id == program_id)))
        .where(members.c.program_id == program_id, members.c.status == "active",
               members.c.merged_into.is_(None))).all()


def forget_manual_reasons(conn: Connection, member_ids: Sequence[int]) -> None:
    """Drop what staff wrote about the members when setting a tier by hand (a history
    row keeps ``erased`` in its place: the column is required)."""
    ids = list(member_ids)
    conn.execute(update(tier_states).where(tier_states.c.member_id.in_(ids))
                 .values(manual_reason=None))
    conn.execute(update(tier_changes).where(tier_changes.c.member_id.in_(ids),
                                            tier_changes.c.kind.in_(("manual", "manual_end")))
                 .values(reason="erased"))
