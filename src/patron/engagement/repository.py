"""Engagement storage: members' progress rows, the rewards given, challenge budgets."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from patron.db.engine import chunks, insert_rows, one_of
from patron.engagement.returns import Contribution
from patron.engagement.tables import (engagement_awards, engagement_budgets,
                                      engagement_contributions, member_engagement)
from patron.ledger.tables import lots
from patron.program.engagement_engine import MemberState, State

_PROGRESS = ("value", "seen", "last_period", "forgiven", "run", "best", "started_at",
             "completed_at", "updated_at")
"""What recording an event moves; a join's own ``started_at`` is set once, when made."""


def _upsert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def _state(row: Any) -> State:
    return State(row.kind, row.item_id, row.period, row.value, list(row.seen or []),
                 row.last_period, row.forgiven, row.run, row.best, row.started_at,
                 row.completed_at)


def states(conn: Connection, program_id: int, member_ids: Collection[int],
           item_ids: Collection[str]) -> dict[int, MemberState]:
    """The members' progress on these items (badges, challenges, joins, streaks), by
    member: one statement for a batch."""
    found: dict[int, MemberState] = {}
    e = member_engagement.c
    for chunk in chunks(sorted(set(member_ids))):
        for row in conn.execute(select(member_engagement).where(
                e.program_id == program_id, one_of(conn, e.member_id, chunk),
                one_of(conn, e.item_id, sorted(item_ids)))):
            state = _state(row)
            found.setdefault(row.member_id, {})[state.key] = state
    return found


def member_states(conn: Connection, program_id: int, member_id: int) -> MemberState:
    e = member_engagement.c
    rows = conn.execute(select(member_engagement).where(e.program_id == program_id,
                                                        e.member_id == member_id))
    return {(state := _state(row)).key: state for row in rows}


def save_states(conn: Connection, program_id: int,
                changed: Iterable[tuple[int, State]], now: datetime) -> None:
    """Write what moved, one statement for the batch: a row made, or its progress set."""
    rows = [dict(program_id=program_id, member_id=member_id, kind=s.kind, item_id=s.item_id,
                 period=s.period, value=s.value, seen=s.seen or None,
                 last_period=s.last_period, forgiven=s.forgiven, run=s.run, best=s.best,
                 started_at=s.started_at, completed_at=s.completed_at, updated_at=now)
            for member_id, s in changed]
    if not rows:
        return
    statement = _upsert(conn, member_engagement)
    statement = statement.on_conflict_do_update(
        index_elements=["program_id", "member_id", "kind", "item_id", "period"],
        set_={name: statement.excluded[name] for name in _PROGRESS})
    conn.execute(statement, rows)


def join(conn: Connection, program_id: int, member_id: int, challenge_id: str,
         now: datetime) -> State:
    """The member's join of a challenge, made now unless it was already (a join keeps
    the first time)."""
    statement = _upsert(conn, member_engagement).values(
        program_id=program_id, member_id=member_id, kind="join", item_id=challenge_id,
        period="", value=0, forgiven=0, run=0, best=0, started_at=now, updated_at=now)
    conn.execute(statement.on_conflict_do_nothing())
    e = member_engagement.c
    row = conn.execute(select(member_engagement).where(
        e.program_id == program_id, e.member_id == member_id, e.kind == "join",
        e.item_id == challenge_id, e.period == "")).one()
    return _state(row)


def insert_awards(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """A unique key per member and reward: a second writer of the same reward fails
    here, and its transaction runs again to find it given."""
    insert_rows(conn, engagement_awards, rows)


def awards_of(conn: Connection, program_id: int, member_id: int) -> list[Any]:
    a = engagement_awards.c
    return list(conn.execute(select(engagement_awards).where(
        a.program_id == program_id, a.member_id == member_id).order_by(a.awarded_at, a.id)))


def locked_budget(conn: Connection, program_id: int, kind: str, item_id: str
                  ) -> tuple[int, int]:
    """What the item's budget has spent (points, money), its row made if need be and
    locked until the transaction ends, so two ingests spend it one after the other."""
    conn.execute(_upsert(conn, engagement_budgets).values(
        program_id=program_id, kind=kind, item_id=item_id, points=0, money=0
    ).on_conflict_do_nothing())
    b = engagement_budgets.c
    row = conn.execute(select(b.points, b.money).where(
        b.program_id == program_id, b.kind == kind, b.item_id == item_id
    ).with_for_update()).one()
    return row.points, row.money


def add_budget(conn: Connection, program_id: int, kind: str,
               added: Mapping[str, tuple[int, int]]) -> None:
    b = engagement_budgets.c
    for item_id, (points, money) in sorted(added.items()):
        conn.execute(update(engagement_budgets).where(
            b.program_id == program_id, b.kind == kind, b.item_id == item_id).values(
            points=b.points + points, money=b.money + money))


def budgets_used(conn: Connection, program_id: int, kind: str) -> dict[str, tuple[int, int]]:
    b = engagement_budgets.c
    return {row.item_id: (row.points, row.money) for row in conn.execute(
        select(b.item_id, b.points, b.money).where(b.program_id == program_id,
                                                   b.kind == kind))}


def badges_held_before(conn: Connection, program_id: int, member_ids: Collection[int],
                       before: datetime) -> list[Any]:
    """(member, badge, level) of badges members held before ``before``, for a replay."""
    e = member_engagement.c
    found = []
    for chunk in chunks(sorted(set(member_ids))):
        found.extend(conn.execute(select(e.member_id, e.item_id, e.period).where(
            e.program_id == program_id, e.kind == "badge", one_of(conn, e.member_id, chunk),
            e.completed_at < before)))
    return found


# --- returns ---------------------------------------------------------------------------------

def insert_contributions(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    insert_rows(conn, engagement_contributions, rows)


def contributions_of_event(conn: Connection, event_pk: int) -> list[Contribution]:
    """What a purchase gave that no return has taken back whole yet."""
    c = engagement_contributions.c
    return [Contribution(row.id, row.kind, row.item_id, row.period, row.amount,
                         tuple(row.seen or ()), row.before)
            for row in conn.execute(select(engagement_contributions).where(
                c.event_id == event_pk, c.settled_at.is_(None)).order_by(c.id))]


def kept_elsewhere(conn: Connection, program_id: int, member_id: int, event_pk: int,
                   item_ids: Collection[str]) -> set[tuple[str, str, str, str]]:
    """(kind, item, period, value) the member's other standing purchases brought to
    these items (value "" for a streak's period)."""
    c = engagement_contributions.c
    found: set[tuple[str, str, str, str]] = set()
    for row in conn.execute(select(c.kind, c.item_id, c.period, c.seen).where(
            c.program_id == program_id, c.member_id == member_id, c.event_id != event_pk,
            c.settled_at.is_(None), one_of(conn, c.item_id, sorted(item_ids)))):
        for value in row.seen or [""]:
            found.add((row.kind, row.item_id, row.period, value))
    return found


def settle(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    c = engagement_contributions.c
    for chunk in chunks(sorted(ids)):
        conn.execute(update(engagement_contributions).where(one_of(conn, c.id, chunk))
                     .values(settled_at=now))


def standing_awards(conn: Connection, program_id: int, member_id: int,
                    item_ids: Collection[str]) -> dict[tuple[str, str, str], Any]:
    """The member's rewards on these items that no return took back, by (kind, item,
    key), with the lot their points went into."""
    a = engagement_awards.c
    rows = conn.execute(select(engagement_awards, lots.c.id.label("lot_id"))
                        .select_from(engagement_awards.outerjoin(
                            lots, lots.c.entry_id == a.entry_id))
                        .where(a.program_id == program_id, a.member_id == member_id,
                               a.reversed_at.is_(None), one_of(conn, a.item_id,
                                                               sorted(item_ids))))
    return {(row.kind, row.item_id, row.award_key): row for row in rows}


def mark_reversed(conn: Connection, award_id: int, event_pk: int, now: datetime) -> None:
    conn.execute(update(engagement_awards).where(engagement_awards.c.id == award_id)
                 .values(reversed_at=now, reversal_event_id=event_pk))
