"""Closing a membership forfeits its points: a flow, as it spans members and the ledger.

The members domain changes the status and announces it (``MemberStatusChanged``);
on a closure this flow takes every available point of the member's own account with
an ``adjust`` entry that names the closure (its reason, who closed it, the status
change row), so the ledger still says where the points went. Pending points are not
taken at closure: a return may still claw them back. Once they settle (the release
sweep makes them available) ``forfeit_settled``, run with the scheduled jobs, takes
them the same way. A closed member's share of a household's pooled points stays
with the household.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.ledger import repository as ledger_repository
from patron.ledger.domain import EntryKind
from patron.ledger.service import Holding, debit, entry_rows, holding_of
from patron.members import repository as member_repository
from patron.members.standing import Status
from patron.program.service import Program, get_program


def forfeit(conn: Connection, program: Program, member_id: int, *, key: str, reason: str,
            actor: str, now: datetime) -> int:
    """Take the available points of the member's own account; returns how many."""
    own = holding_of(conn, program, member_id).own
    account = ledger_repository.account_row(conn, own.id, lock=True)
    if account.available <= 0:
        return 0
    points = account.available
    debit(conn, program, Holding(member_id, account, account), points=points, reason=reason,
          key=key, actor=actor, now=now, kind=EntryKind.ADJUST)
    return points


def on_member_status_changed(conn: Connection, happened: hooks.MemberStatusChanged) -> None:
    """A closure forfeits what the member has available now."""
    if happened.to_status != Status.CLOSED:
        return
    why = f": {happened.reason}" if happened.reason else ""
    forfeit(conn, happened.program, happened.member_id,
            key=f"closure:{happened.change_id}",
            reason=f"Forfeited: membership closed by {happened.actor}{why}",
            actor=happened.actor, now=happened.at)


def forfeit_settled(db: Any, now: datetime) -> int:
    """The scheduled sweep: points of closed members that became available since (pending
    points released after the closure, a late credit) are forfeited; returns the points.

    Idempotent: each forfeiture is keyed by the account's newest entry, so a second run
    finds nothing available, and a retry of the same run writes nothing new.
    """
    closed = db.read(lambda conn: member_repository.ids_with_status(conn, Status.CLOSED))
    total = 0
    for program_id, rows in groupby(closed, key=lambda pair: pair[0]):
        member_ids = [member_id for _, member_id in rows]
        total += db.transact(lambda conn: _forfeit_members(conn, program_id, member_ids, now))
    return total


def _forfeit_members(conn: Connection, program_id: int, member_ids: list[int],
                     now: datetime) -> int:
    program = get_program(conn, program_id)
    total = 0
    for member_id in member_ids:
        own = holding_of(conn, program, member_id).own
        if own.available <= 0:
            continue
        newest = entry_rows(conn, own.id, None, 1).rows
        marker = newest[0].id if newest else 0
        total += forfeit(conn, program, member_id, key=f"closure:settled:{marker}",
                         reason="Forfeited: points settled after the membership was closed",
                         actor="job:closures", now=now)
    return total
