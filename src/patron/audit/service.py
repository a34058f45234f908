"""The audit log: one row per write, from one place per face.

A write request opens a :class:`Trail` (the API's middleware does, for every method but
GET/HEAD/OPTIONS); whoever authenticates the caller fills in who it is and which member
the route names (``claim``). ``Context.write`` then adds a ``succeeded`` row inside the
change's own transaction, so a rolled-back change leaves none; a write that never
committed (refused, invalid, failed) gets a ``failed`` row of its own afterwards, with
the answer's status.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from patron.audit.tables import audit_log
from patron.db.engine import insert_rows
from patron.errors import PatronError
from patron.logs import REQUEST_ID
from patron.schemas_common import plain_id


@dataclass
class Trail:
    """What one write request will leave in the audit log."""

    operation: str
    actor: str | None = None
    program_id: int | None = None
    api_key_id: int | None = None
    staff_account_id: int | None = None
    member_id: int | None = None
    recorded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


TRAIL: ContextVar[Trail | None] = ContextVar("patron_audit_trail", default=None)


def claim(*, actor: str, program_id: int, api_key_id: int | None = None,
          staff_account_id: int | None = None, member_id: Any = None,
          operation: str | None = None) -> None:
    """Say who makes the current write request (nothing outside one)."""
    trail = TRAIL.get()
    if trail is None:
        return
    trail.operation = operation or trail.operation
    trail.actor, trail.program_id = actor, program_id
    trail.api_key_id, trail.staff_account_id = api_key_id, staff_account_id
    trail.member_id = plain_id(member_id)


def record(conn: Connection, trail: Trail, *, now: datetime, outcome: str,
           status: int | None = None) -> None:
    insert_rows(conn, audit_log, [dict(  # one statement text for every request (``_few``)
        program_id=trail.program_id, at=now, actor=trail.actor, api_key_id=trail.api_key_id,
        staff_account_id=trail.staff_account_id, operation=trail.operation[:300],
        member_id=trail.member_id, request_id=REQUEST_ID.get(), outcome=outcome,
        status=status)])


def record_success(conn: Connection, *, now: datetime, result: Any = None) -> Trail | None:
    """Within the write's transaction: the current trail's ``succeeded`` row (once)."""
    trail = TRAIL.get()
    if trail is None or trail.actor is None or trail.recorded:
        return None
    if trail.member_id is None:
        trail.member_id = plain_id(getattr(result, "member_id", None))
    record(conn, trail, now=now, outcome="succeeded")
    return trail


class InvalidCursor(PatronError):
    status = 422
    code = "invalid_cursor"
    title = "Invalid cursor"


@dataclass(frozen=True)
class AuditQuery:
    member_id: int | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    cursor: str | None = None
    limit: int = 100


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    cursor = plain_id(value)
    if cursor is None:
        raise InvalidCursor(f"{value!r} is not a cursor from a previous page", cursor=value)
    return cursor


def list_entries(conn: Connection, program_id: int,
                 query: AuditQuery) -> tuple[list[dict[str, Any]], str | None]:
    """The program's audit rows, newest first, and the cursor of the next page."""
    where = [audit_log.c.program_id == program_id]
    before = _cursor(query.cursor)
    if before is not None:
        where.append(audit_log.c.id < before)
    if query.member_id is not None:
        where.append(audit_log.c.member_id == query.member_id)
    if query.actor is not None:
        where.append(audit_log.c.actor == query.actor)
    if query.since is not None:
        where.append(audit_log.c.at >= query.since)
    if query.until is not None:
        where.append(audit_log.c.at < query.until)
    rows = conn.execute(select(audit_log).where(*where).order_by(audit_log.c.id.desc())
                        .limit(query.limit + 1)).mappings().all()
    page = [dict(row) for row in rows[:query.limit]]
    more = len(rows) > query.limit
    return page, (str(page[-1]["id"]) if more and page else None)
