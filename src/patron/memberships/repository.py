"""Membership queries. A membership row is read under a row lock (PostgreSQL) before
it changes, so two payments for one membership never both extend the same period;
SQLite's ``BEGIN IMMEDIATE`` already serialises writers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from patron.db.engine import chunks, one_of
from patron.memberships.domain import FINAL, LIVE, Membership, MembershipState, Transition
from patron.memberships.tables import membership_transitions, memberships

_FIELDS = ("member_id", "plan_id", "price", "currency", "period_months", "grace_days",
           "created_at", "started_at", "current_period_start", "current_period_end",
           "paid_until", "cancelled_at", "lapsed_at", "ended_at")


def to_domain(row: Any) -> Membership:
    return Membership(row.id, state=MembershipState(row.state),
                      **{name: getattr(row, name) for name in _FIELDS})


def _values(membership: Membership, now: datetime) -> dict[str, Any]:
    values = {name: getattr(membership, name) for name in _FIELDS}
    values.update(state=membership.state.value, next_review_at=membership.next_review_at,
                  live_member_id=membership.member_id if membership.live else None,
                  updated_at=now)
    return values


def _locked(conn: Connection, query: Any) -> Any:
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


def insert_membership(conn: Connection, program_id: int, membership: Membership,
                      now: datetime) -> int:
    result = conn.execute(insert(memberships).returning(memberships.c.id).values(
        program_id=program_id, **_values(membership, now)))
    return result.scalar_one()


def update_membership(conn: Connection, membership: Membership, now: datetime) -> None:
    conn.execute(update(memberships).where(memberships.c.id == membership.id)
                 .values(**_values(membership, now)))


def insert_transitions(conn: Connection, program_id: int, membership_id: int,
                       transitions: Sequence[Transition], actor: str, now: datetime) -> None:
    if not transitions:
        return
    conn.execute(insert(membership_transitions), [dict(
        program_id=program_id, membership_id=membership_id, event=t.event.value,
        from_state=t.from_state.value if t.from_state else None, to_state=t.to_state.value,
        at=t.at, reason=t.reason, actor=actor,
        payment_reference=t.payment.reference if t.payment else None,
        payment_amount=t.payment.amount if t.payment else None, recorded_at=now)
        for t in transitions])


def membership_row(conn: Connection, program_id: int, membership_id: int, *,
                   lock: bool = False) -> Any:
    query = select(memberships).where(memberships.c.program_id == program_id,
                                      memberships.c.id == membership_id)
    return conn.execute(_locked(conn, query) if lock else query).first()


def live_membership_row(conn: Connection, program_id: int, member_id: int, *,
                        lock: bool = False) -> Any:
    query = select(memberships).where(memberships.c.program_id == program_id,
                                      memberships.c.live_member_id == member_id)
    return conn.execute(_locked(conn, query) if lock else query).first()


def membership_rows_of(conn: Connection, program_id: int, member_id: int) -> list[Any]:
    """Newest first."""
    return list(conn.execute(select(memberships).where(
        memberships.c.program_id == program_id, memberships.c.member_id == member_id)
        .order_by(memberships.c.id.desc())))


def transitions_of(conn: Connection, membership_ids: Iterable[int]) -> dict[int, list[Any]]:
    """Oldest first, per membership."""
    found: dict[int, list[Any]] = defaultdict(list)
    for chunk in chunks(membership_ids):
        for row in conn.execute(select(membership_transitions).where(
                one_of(conn, membership_transitions.c.membership_id, chunk))
                .order_by(membership_transitions.c.id)):
            found[row.membership_id].append(row)
    return found


def transition_by_payment(conn: Connection, program_id: int, reference: str) -> Any:
    return conn.execute(select(membership_transitions).where(
        membership_transitions.c.program_id == program_id,
        membership_transitions.c.payment_reference == reference)).first()


def was_activated(conn: Connection, program_id: int, member_id: int, plan_id: str,
                  other_than: int) -> bool:
    """Whether the member held this plan before, in another membership."""
    return conn.execute(select(memberships.c.id).where(
        memberships.c.program_id == program_id, memberships.c.member_id == member_id,
        memberships.c.plan_id == plan_id, memberships.c.started_at.is_not(None),
        memberships.c.id != other_than).limit(1)).first() is not None


def due_membership_ids(conn: Connection, now: datetime, limit: int,
                       program_id: int | None = None) -> list[int]:
    query = select(memberships.c.id).where(memberships.c.next_review_at <= now,
                                           memberships.c.state.in_([s.value for s in LIVE]))
    if program_id is not None:
        query = query.where(memberships.c.program_id == program_id)
    return list(conn.execute(query.order_by(memberships.c.next_review_at, memberships.c.id)
                             .limit(limit)).scalars())


def locked_row(conn: Connection, membership_id: int) -> Any:
    return conn.execute(_locked(conn, select(memberships).where(
        memberships.c.id == membership_id))).first()


def started_rows_of(conn: Connection, program_id: int, member_ids: Iterable[int],
                    at: datetime) -> list[Any]:
    """Memberships of these members activated by ``at`` that were not over before it."""
    rows: list[Any] = []
    final = [s.value for s in FINAL]
    for chunk in chunks(set(member_ids)):
        rows += conn.execute(select(memberships).where(
            memberships.c.program_id == program_id,
            one_of(conn, memberships.c.member_id, chunk),
            memberships.c.started_at <= at,
            or_(memberships.c.state.not_in(final), memberships.c.lapsed_at > at,
                memberships.c.ended_at > at)))
    return rows
