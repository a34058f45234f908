"""Webhook queries: endpoints, the outbox, claims and the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, or_, select, update

from patron.db.engine import insert_rows
from patron.program.tables import programs
from patron.webhooks.tables import webhook_attempts, webhook_endpoints, webhook_messages

E, M, A = webhook_endpoints, webhook_messages, webhook_attempts

# --------------------------------------------------------------------------- endpoints


def insert_endpoint(conn: Connection, **values: Any) -> int:
    return conn.execute(insert(E).values(**values).returning(E.c.id)).scalar_one()


def endpoint_row(conn: Connection, program_id: int, endpoint_id: int, *,
                 lock: bool = False) -> Any:
    query = select(E).where(E.c.program_id == program_id, E.c.id == endpoint_id,
                            E.c.deleted_at.is_(None))
    return conn.execute(query.with_for_update() if lock else query).first()


def endpoint_rows(conn: Connection, program_id: int) -> list[Any]:
    return list(conn.execute(select(E).where(E.c.program_id == program_id,
                                             E.c.deleted_at.is_(None)).order_by(E.c.id)))


def count_endpoints(conn: Connection, program_id: int) -> int:
    return conn.execute(select(func.count()).select_from(E)
                        .where(E.c.program_id == program_id,
                               E.c.deleted_at.is_(None))).scalar_one()


def update_endpoint(conn: Connection, endpoint_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(E).where(E.c.id == endpoint_id).values(**values))


def delete_endpoint(conn: Connection, endpoint_id: int, now: datetime) -> None:
    """The endpoint's messages and their delivery log go; the endpoint's row stays,
    marked deleted (and disabled), for messages a process may still write for it in the
    next few seconds: the sweeps remove those (``leftovers``)."""
    ids = select(M.c.id).where(M.c.endpoint_id == endpoint_id).scalar_subquery()
    conn.execute(delete(A).where(A.c.message_id.in_(ids)))
    conn.execute(delete(M).where(M.c.endpoint_id == endpoint_id))
    conn.execute(update(E).where(E.c.id == endpoint_id).values(enabled=False, deleted_at=now,
                                                                updated_at=now))


def enabled_types(conn: Connection, program_id: int) -> dict[str, tuple[int, ...]]:
    """Each event type the program's enabled endpoints take, with those endpoints."""
    found: dict[str, list[int]] = {}
    for endpoint_id, types in conn.execute(
            select(E.c.id, E.c.event_types).where(E.c.program_id == program_id,
                                                  E.c.enabled.is_(True)).order_by(E.c.id)):
        for name in types:
            found.setdefault(name, []).append(endpoint_id)
    return {name: tuple(ids) for name, ids in found.items()}


# --------------------------------------------------------------------------- the outbox

def insert_messages(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """One statement for the lot (executemany; COPY on PostgreSQL from ten rows on)."""
    insert_rows(conn, M, rows)


CLAIMED = (M.c.id, M.c.program_id, M.c.endpoint_id, M.c.webhook_id, M.c.event_type,
           M.c.lane, M.c.payload, M.c.attempts, E.c.url, E.c.secret)


def claim(conn: Connection, now: datetime, limit: int, until: datetime, token: str,
          program_ids: Sequence[int] | None = None) -> list[Any]:
    """Lease up to ``limit`` due messages until ``until``: the first pending message of
    each (endpoint, member) lane, never one behind an earlier pending message of its lane
    (that one is delivered or dead first), only for enabled endpoints (and, given
    ``program_ids``, only those programs').

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so workers claiming at
    once take different rows instead of waiting for each other; on SQLite the write
    transaction (``BEGIN IMMEDIATE``) already makes claims one at a time.
    """
    earlier = M.alias("earlier")
    blocked = exists().where(earlier.c.endpoint_id == M.c.endpoint_id,
                             earlier.c.lane == M.c.lane, earlier.c.state == "pending",
                             earlier.c.id < M.c.id)
    query = (select(*CLAIMED).join(E, E.c.id == M.c.endpoint_id)
             .where(M.c.state == "pending", M.c.delivered_at.is_(None),
                    E.c.enabled.is_(True),
                    or_(M.c.next_attempt_at.is_(None), M.c.next_attempt_at <= now),
                    or_(M.c.locked_until.is_(None), M.c.locked_until <= now), ~blocked)
             .order_by(M.c.id).limit(limit))
    if program_ids is not None:
        query = query.where(M.c.program_id.in_(list(program_ids)))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=M)
    rows = list(conn.execute(query))
    if rows:
        conn.execute(update(M).where(M.c.id.in_([row.id for row in rows]))
                     .values(locked_until=until, claim=token))
    return rows


_RECORD = (update(M).where(M.c.id == bindparam("b_id"), M.c.claim == bindparam("b_claim"))
           .values(state=bindparam("b_state"), attempts=bindparam("b_attempts"),
                   next_attempt_at=bindparam("b_next"), delivered_at=bindparam("b_delivered"),
                   last_status=bindparam("b_status"), last_error=bindparam("b_error"),
                   locked_until=None, claim=None))


def record(conn: Connection, attempts: Sequence[dict[str, Any]],
           outcomes: Sequence[dict[str, Any]]) -> None:
    """The attempts' log rows, and each message's new state (only where this worker's
    lease still holds: a message another worker claimed since keeps that one's result)."""
    insert_rows(conn, A, attempts)
    if outcomes:
        conn.execute(_RECORD, list(outcomes))


def delivered_before(conn: Connection, cutoff: datetime, limit: int) -> list[int]:
    return list(conn.execute(select(M.c.id).where(M.c.state == "delivered",
                                                  M.c.delivered_at < cutoff)
                             .order_by(M.c.delivered_at).limit(limit)).scalars())


def leftovers(conn: Connection, limit: int) -> list[int]:
    """Messages of deleted endpoints (written by a process that had not seen it go)."""
    return list(conn.execute(select(M.c.id).join(E, E.c.id == M.c.endpoint_id)
                             .where(E.c.deleted_at.is_not(None))
                             .order_by(M.c.id).limit(limit)).scalars())


def delete_messages(conn: Connection, ids: Sequence[int]) -> None:
    """Messages with their delivery log."""
    conn.execute(delete(A).where(A.c.message_id.in_(list(ids))))
    conn.execute(delete(M).where(M.c.id.in_(list(ids))))


# --------------------------------------------------------------------------- reading

def message_row(conn: Connection, program_id: int, message_id: int) -> Any:
    return conn.execute(select(M).where(M.c.program_id == program_id,
                                        M.c.id == message_id)).first()


def messages_page(conn: Connection, program_id: int, endpoint_id: int | None,
                  state: str | None, member_id: int | None, before: int | None,
                  limit: int) -> list[Any]:
    """Newest first."""
    where = [M.c.program_id == program_id]
    if endpoint_id is not None:
        where.append(M.c.endpoint_id == endpoint_id)
    if state is not None:
        where.append(M.c.state == state)
    if member_id is not None:
        where.append(M.c.member_id == member_id)
    if before is not None:
        where.append(M.c.id < before)
    return list(conn.execute(select(M).where(*where).order_by(M.c.id.desc()).limit(limit)))


def attempts_of(conn: Connection, message_id: int) -> list[Any]:
    return list(conn.execute(select(A).where(A.c.message_id == message_id).order_by(A.c.id)))


def replay(conn: Connection, program_id: int, now: datetime, *,
           message_id: int | None = None, endpoint_id: int | None = None,
           state: str | None = None, since: datetime | None = None) -> int:
    """Make messages due now with a fresh set of attempts; not those being sent now. (A
    delivered one forgets when: the delivery log keeps it.)"""
    where = [M.c.program_id == program_id,
             or_(M.c.locked_until.is_(None), M.c.locked_until <= now)]
    if message_id is not None:
        where.append(M.c.id == message_id)
    if endpoint_id is not None:
        where.append(M.c.endpoint_id == endpoint_id)
    if state is not None:
        where.append(M.c.state == state)
    if since is not None:
        where.append(M.c.occurred_at >= since)
    return conn.execute(update(M).where(*where).values(
        state="pending", attempts=0, next_attempt_at=None, locked_until=None, claim=None,
        delivered_at=None)).rowcount


def depth(conn: Connection) -> list[tuple[str, str, int]]:
    """Messages waiting (``pending``) and given up (``dead``) per program slug."""
    return [tuple(row) for row in conn.execute(
        select(programs.c.slug, M.c.state, func.count(M.c.id))
        .join(programs, programs.c.id == M.c.program_id)
        .where(M.c.state.in_(("pending", "dead"))).group_by(programs.c.slug, M.c.state))]


def messages_to(conn: Connection, member_ids: Sequence[int], event_type: str) -> list[Any]:
    """(id, state, payload) of the messages of ``event_type`` about these members."""
    return conn.execute(select(M.c.id, M.c.state, M.c.payload)
                        .where(M.c.member_id.in_(member_ids), M.c.event_type == event_type)
                        ).all()


def forget_message(conn: Connection, message_id: int, payload: str, *,
                   drop: bool) -> None:
    """Put ``payload`` in place of the message's body; ``drop``: it is never sent (dead,
    with the reason)."""
    values: dict[str, Any] = {"payload": payload}
    if drop:
        values.update(state="dead", next_attempt_at=None, locked_until=None, claim=None,
                      last_error="the member was erased before it was sent")
    conn.execute(update(M).where(M.c.id == message_id).values(**values))
