"""Erasing a member's personal data from what the members domain keeps.

The profile (names, birthdate, gender, address, region, attributes, match keys) is
emptied; each identity's value becomes a random pseudonym (``erased:<32 hex>``), so the
row stays (events and merges point at it) but nobody can find the member by the old
value or work back to it; free text people wrote about the member (status reasons,
merge reasons) is dropped; every consent granted is withdrawn, as a new history row.
The member becomes ``erased`` (final); records merged into it are the same person and
are emptied the same way, keeping their ``merged`` status so their old ids still lead
to the survivor. Ids, dates and statuses stay: the ledger and every report count them.

``patron.flows.privacy`` runs this and announces ``MemberErased`` for the other domains.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from patron import hooks
from patron.members import consents
from patron.members.repository import (PROFILE_COLUMNS, insert_status_change, move_status,
                                       status_of)
from patron.members.standing import MemberErased, Status
from patron.members.tables import identities, member_status_changes, members, merges
from patron.program.service import Program

PSEUDONYM_PREFIX = "erased:"
KEPT_PROFILE = ("join_channel",)
"""Profile columns an erasure keeps: how the member joined is no personal data, and the
member-structure reports count it."""


@dataclass(frozen=True)
class Erased:
    records: tuple[int, ...]
    identities: int
    consents_withdrawn: int


def records_of(conn: Connection, program_id: int, member_id: int) -> list[int]:
    """The member and every record merged into it, through merges of merges."""
    found, frontier = [member_id], [member_id]
    while frontier:
        frontier = [row.id for row in conn.execute(select(members.c.id).where(
            members.c.program_id == program_id, members.c.merged_into.in_(frontier)))
            if row.id not in found]
        found.extend(frontier)
    return found


def pseudonym() -> str:
    """A value no one can work back from: random, not derived from the old value."""
    return PSEUDONYM_PREFIX + secrets.token_hex(16)


def mark_erased(conn: Connection, program: Program, row: Any, *, reason: str | None,
                actor: str, now: datetime) -> None:
    """Move the member to ``erased`` (guarded by the status read, so of two erasures
    racing one wins and the other is 409 ``member_erased``), with its status change."""
    current = row.status
    while not move_status(conn, row.id, current, Status.ERASED, reason=reason, actor=actor,
                          now=now):
        current = status_of(conn, program.id, row.id).status
        if current == Status.ERASED:
            raise MemberErased(f"member {row.id} was already erased", member_id=row.id)
    change_id = insert_status_change(conn, dict(
        program_id=program.id, member_id=row.id, status=Status.ERASED,
        previous_status=current, reason=reason, actor=actor, created_at=now))
    hooks.emit(conn, hooks.MemberStatusChanged(program, row.id, current, Status.ERASED,
                                               reason, actor, now, change_id))


def erase(conn: Connection, program: Program, member_id: int, records: Sequence[int], *,
          actor: str, now: datetime) -> Erased:
    """Empty the profile, pseudonymise the identities, drop the free text and withdraw
    the consents of ``records`` (the member, marked erased already, and its merged
    records)."""
    ids = list(records)
    emptied = {column: None for column in PROFILE_COLUMNS if column not in KEPT_PROFILE}
    conn.execute(update(members).where(members.c.program_id == program.id,
                                       members.c.id.in_(ids)).values(
        **emptied, attributes={}, family_key=None, postcode_key=None, updated_at=now))
    conn.execute(update(members).where(members.c.id.in_([i for i in ids if i != member_id]))
                 .values(status_reason=None))
    conn.execute(update(member_status_changes).where(
        member_status_changes.c.member_id.in_(ids),
        member_status_changes.c.status != Status.ERASED).values(reason=None))
    conn.execute(update(merges).where(or_(merges.c.survivor_id.in_(ids),
                                          merges.c.merged_id.in_(ids))).values(reason=None))
    held = [row.id for row in conn.execute(select(identities.c.id).where(
        identities.c.member_id.in_(ids)).order_by(identities.c.id))]
    if held:
        conn.execute(update(identities).where(identities.c.id == bindparam("identity"))
                     .values(value=bindparam("pseudonym")),
                     [{"identity": i, "pseudonym": pseudonym()} for i in held])
    withdrawn = sum(consents.withdraw_all(conn, program.id, record, source="erasure",
                                          actor=actor, now=now) for record in ids)
    return Erased(tuple(ids), len(held), withdrawn)
