"""Member status: who may earn and spend, and the one guard every earn and spend asks.

A member is ``active``; ``blocked`` (fraud suspected, a dispute: cannot earn or
spend, and may be made active again); ``closed`` (the membership ended: cannot
earn or spend, and the points are forfeited; final); ``merged`` into another
member (final; set by a merge, never by a status change); or ``erased`` (the
person's data was erased, ``patron.flows.privacy``: cannot earn or spend; final,
set by an erasure only). Household placeholders
(``household``) are not people and have no status to change.

Events of a member who may not earn are still recorded (the order is known, so a
later return still finds it) but earn nothing; their outcome says why. A spend, a
redemption or a transfer is refused with 409 ``member_blocked``, ``member_closed``,
``member_merged`` or ``member_erased``. ``refuse_spending`` is that check, over a status the caller
has read; ``require_spending`` reads it; ``not_earning`` reads a batch's at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.errors import Conflict
from patron.members import repository
from patron.program.service import Program


class Status(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    CLOSED = "closed"
    MERGED = "merged"
    ERASED = "erased"


HALTED = (Status.BLOCKED.value, Status.CLOSED.value, Status.MERGED.value, Status.ERASED.value)
"""Statuses that neither earn nor spend."""

ALLOWED: dict[str, frozenset[str]] = {
    Status.ACTIVE: frozenset({Status.BLOCKED, Status.CLOSED}),
    Status.BLOCKED: frozenset({Status.ACTIVE, Status.CLOSED}),
    Status.CLOSED: frozenset(),
    Status.MERGED: frozenset(),
    Status.ERASED: frozenset(),
}
"""Which status may follow which through a status change. Closed, merged and erased are
final: a closure forfeited the points, a merged record lives on in its survivor, and an
erased member's data is gone. Neither ``merged`` nor ``erased`` is ever asked for: a merge
and an erasure set them."""
FINAL = (Status.CLOSED, Status.MERGED, Status.ERASED)


class MemberBlocked(Conflict):
    code = "member_blocked"
    title = "The member is blocked"


class MemberClosed(Conflict):
    code = "member_closed"
    title = "The member's membership is closed"


class MemberMerged(Conflict):
    code = "member_merged"
    title = "The member was merged into another member"


class MemberErased(Conflict):
    code = "member_erased"
    title = "The member's personal data was erased"


class StatusChangeNotAllowed(Conflict):
    code = "status_change_not_allowed"
    title = "The member's status cannot change this way"


_REFUSALS: dict[str, type[Conflict]] = {Status.BLOCKED: MemberBlocked,
                                        Status.CLOSED: MemberClosed,
                                        Status.MERGED: MemberMerged,
                                        Status.ERASED: MemberErased}


def refuse_spending(member_id: int, status: str, merged_into: int | None = None) -> None:
    """409 ``member_blocked`` / ``member_closed`` / ``member_merged`` / ``member_erased``
    unless the member
    may spend (an active member, or a household's placeholder, which the ledger judges)."""
    refusal = _REFUSALS.get(status)
    if refusal is None:
        return
    extra: dict[str, Any] = {"member_id": member_id, "status": status}
    if merged_into is not None:
        extra["merged_into"] = merged_into
    what = {Status.BLOCKED: "is blocked", Status.CLOSED: "is closed",
            Status.MERGED: f"was merged into member {merged_into}",
            Status.ERASED: "was erased"}[status]
    raise refusal(f"member {member_id} {what} and cannot spend points", **extra)


def refuse_spending_of(account: Any) -> None:
    """``refuse_spending`` for the member of a points account read with its member's
    ``member_status`` and ``merged_into`` (``Holding.own``): a spend or a redemption
    learns the status from the statement that locks the account, not a read of its own."""
    refuse_spending(account.member_id, account.member_status, account.merged_into)


def require_spending(conn: Connection, program_id: int, member_id: int) -> None:
    """``refuse_spending`` for a member whose row the caller has not read (one lookup by
    primary key; an unknown member passes, for the caller's own 404)."""
    row = repository.status_of(conn, program_id, member_id)
    if row is not None:
        refuse_spending(member_id, row.status, row.merged_into)


def not_earning(conn: Connection, program_id: int, member_ids: Iterable[int]) -> dict[int, str]:
    """The members among ``member_ids`` who may not earn, with their status (one query
    by primary key per 500 members; most batches find nobody)."""
    return repository.statuses_among(conn, program_id, member_ids, HALTED)


def halted_among(rows: Iterable[Any]) -> dict[int, str]:
    """``not_earning`` over member rows the caller read already (``id``, ``status``)."""
    return {row.id: row.status for row in rows if row.status in HALTED}


def earning_note(status: str) -> dict[str, str]:
    """The note an event's outcome carries for earning nothing (no rule: ``rule_id`` is
    empty), with the code a spend would be refused with."""
    return {"rule_id": "", "code": _REFUSALS[status].code,
            "message": f"the member is {status}: the event is recorded but earns nothing"}


def check_change(member_id: int, current: str, wanted: str) -> bool:
    """Whether moving ``current`` to ``wanted`` changes anything; 409 when not allowed."""
    if current == wanted:
        return False
    if wanted not in ALLOWED.get(current, frozenset()):
        raise StatusChangeNotAllowed(
            f"member {member_id} is {current} and cannot become {wanted}"
            + (f" ({current} is final)" if current in FINAL else ""),
            member_id=member_id, status=current, requested=wanted)
    return True


def change_status(conn: Connection, program: Program, row: Any, wanted: str, *,
                  reason: str | None, actor: str, now: datetime) -> bool:
    """Move the member ``row`` to ``wanted``; returns whether anything changed.

    The update is guarded by the status read, so of two changes racing from the same
    status one wins and the other is judged again against what it finds. A change
    writes a ``member_status_changes`` row and emits ``MemberStatusChanged``.
    """
    current = row.status
    while True:
        if not check_change(row.id, current, wanted):
            return False
        if repository.move_status(conn, row.id, current, wanted, reason=reason, actor=actor,
                                  now=now):
            break
        current = repository.status_of(conn, program.id, row.id).status
    change_id = repository.insert_status_change(conn, dict(
        program_id=program.id, member_id=row.id, status=wanted, previous_status=current,
        reason=reason, actor=actor, created_at=now))
    hooks.emit(conn, hooks.MemberStatusChanged(program, row.id, current, wanted, reason, actor,
                                               now, change_id))
    return True


