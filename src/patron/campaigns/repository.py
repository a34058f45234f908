"""Campaign assignment and budget counters: the SQL."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite

from patron.campaigns.tables import campaign_budgets, campaign_members, campaign_starts
from patron.db.engine import chunks, insert_rows
from patron.members.tables import members


def _upsert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def treatment_of(conn: Connection, program_id: int, member_ids: Collection[int],
                 campaign_ids: Collection[str]) -> dict[int, frozenset[str]]:
    """The campaigns (of ``campaign_ids``) whose treatment group each member is in."""
    found: dict[int, set[str]] = {}
    if not member_ids or not campaign_ids:
        return {}
    for chunk in chunks(sorted(member_ids)):
        rows = conn.execute(select(campaign_members.c.member_id, campaign_members.c.campaign_id)
                            .where(campaign_members.c.program_id == program_id,
                                   campaign_members.c.group == "treatment",
                                   campaign_members.c.campaign_id.in_(sorted(campaign_ids)),
                                   campaign_members.c.member_id.in_(chunk)))
        for member_id, campaign_id in rows:
            found.setdefault(member_id, set()).add(campaign_id)
    return {member_id: frozenset(ids) for member_id, ids in found.items()}


def assigned(conn: Connection, program_id: int, campaign_id: str) -> dict[int, str]:
    """Member id → group of everyone already assigned to the campaign."""
    return dict(conn.execute(select(campaign_members.c.member_id, campaign_members.c.group)
                             .where(campaign_members.c.program_id == program_id,
                                    campaign_members.c.campaign_id == campaign_id)).all())


def insert_assignments(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, campaign_members, rows)


def active_members(conn: Connection, program_id: int) -> list[int]:
    """Every active member not merged into another: a campaign without a segment's target."""
    return list(conn.execute(select(members.c.id).where(
        members.c.program_id == program_id, members.c.status == "active",
        members.c.merged_into.is_(None)).order_by(members.c.id)).scalars())


def group_counts(conn: Connection, program_id: int) -> dict[str, dict[str, int]]:
    rows = conn.execute(select(campaign_members.c.campaign_id, campaign_members.c.group,
                               func.count()).where(campaign_members.c.program_id == program_id)
                        .group_by(campaign_members.c.campaign_id, campaign_members.c.group))
    found: dict[str, dict[str, int]] = {}
    for campaign_id, group, count in rows:
        found.setdefault(campaign_id, {})[group] = count
    return found


def members_page(conn: Connection, program_id: int, campaign_id: str, group: str | None,
                 after: int | None, limit: int) -> list[Any]:
    query = select(campaign_members).where(campaign_members.c.program_id == program_id,
                                           campaign_members.c.campaign_id == campaign_id)
    if group is not None:
        query = query.where(campaign_members.c.group == group)
    if after is not None:
        query = query.where(campaign_members.c.member_id > after)
    return list(conn.execute(query.order_by(campaign_members.c.member_id).limit(limit)))


def member_treatments(conn: Connection, program_id: int, member_id: int) -> list[str]:
    return list(conn.execute(select(campaign_members.c.campaign_id).where(
        campaign_members.c.program_id == program_id, campaign_members.c.member_id == member_id,
        campaign_members.c.group == "treatment").order_by(campaign_members.c.assigned_at,
                                                          campaign_members.c.campaign_id)
    ).scalars())


def budgets_used(conn: Connection, program_id: int,
                 campaign_ids: Collection[str]) -> dict[str, tuple[int, int]]:
    """(points, money) each campaign spent so far, read without a lock: ``add_budget``
    tells whether it moved meanwhile."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    found = {row.campaign_id: (row.points, row.money) for row in conn.execute(
        select(campaign_budgets).where(campaign_budgets.c.program_id == program_id,
                                       campaign_budgets.c.campaign_id.in_(ids)))}
    return {campaign_id: found.get(campaign_id, (0, 0)) for campaign_id in ids}


def add_budget(conn: Connection, program_id: int,
               increments: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """Add to what campaigns spent; each one's totals after it. The rows stay locked
    until commit (taken in campaign order, so two writers never wait in a circle)."""
    totals: dict[str, tuple[int, int]] = {}
    for campaign_id, (points, money) in sorted(increments.items()):
        statement = _upsert(conn, campaign_budgets).values(
            program_id=program_id, campaign_id=campaign_id, points=points, money=money)
        statement = statement.on_conflict_do_update(
            index_elements=["program_id", "campaign_id"],
            set_={"points": campaign_budgets.c.points + statement.excluded.points,
                  "money": campaign_budgets.c.money + statement.excluded.money})
        row = conn.execute(statement.returning(campaign_budgets.c.points,
                                               campaign_budgets.c.money)).one()
        totals[campaign_id] = (row.points, row.money)
    return totals


def announced(conn: Connection, program_id: int) -> set[str]:
    """The campaigns whose start was announced."""
    return set(conn.execute(select(campaign_starts.c.campaign_id)
                            .where(campaign_starts.c.program_id == program_id)).scalars())


def insert_starts(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, campaign_starts, rows)
