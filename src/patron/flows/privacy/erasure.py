"""Erasing a member (``POST /members/{id}/erase``, ``patron members erase``, the retention
sweep): personal data pseudonymised, accounting untouched.

The members domain empties the profile, pseudonymises the identities, drops its free
text and withdraws the consents (``patron.members.erasure``); ``MemberErased`` then
tells every other domain, in the same transaction, to drop what it keeps about the
person (``patron.flows.subscribers`` lists who reacts); answers kept for retries are
rendered again without the data. No ledger entry is written or changed in amount,
no order or line loses an amount, so balances, liability and every report total are
what they were. Points stay where they are: an erasure forfeits nothing (closing the
member first does, and the retention sweep erases closed members only).

A merged record is the same person as its survivor: erasing it erases the survivor
(as every member-id path of a merged record acts on the survivor), and erasing a
survivor erases the records merged into it. Erasing an erased member is 409
``member_erased``; the erasure is final.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from patron import hooks
from patron.audit.service import Trail, record
from patron.flows.privacy.answers import render_again
from patron.flows.privacy.schemas import Erasure
from patron.members import erasure
from patron.members import repository as member_repository
from patron.members import service as members
from patron.members.standing import MemberErased, Status
from patron.program.service import Program


def erase_member(conn: Connection, program: Program, member_id: int, *, actor: str,
                 reason: str | None, now: datetime, audit_as: str | None = None) -> Erasure:
    """Erase the member (the survivor, for a merged record) and its merged records.

    ``audit_as`` names the operation in the audit log for an erasure that no request
    audits (the command line, the retention sweep).
    """
    row = members.person_row(conn, program, member_id)
    if row.merged_into is not None:
        row = members.person_row(conn, program, member_repository.survivor_of(
            conn, program.id, member_id) or member_id)
    if row.status == Status.ERASED:
        raise MemberErased(f"member {row.id} was already erased", member_id=row.id)
    erasure.mark_erased(conn, program, row, reason=reason, actor=actor, now=now)
    done = erasure.erase(conn, program, row.id,
                         erasure.records_of(conn, program.id, row.id), actor=actor, now=now)
    hooks.emit(conn, hooks.MemberErased(program, row.id, done.records, actor, reason, now))
    render_again(conn, program, done.records)
    if audit_as is not None:
        record(conn, Trail(operation=audit_as, actor=actor, program_id=program.id,
                           member_id=row.id), now=now, outcome="succeeded")
    return Erasure(member_id=row.id, erased_at=now, records=list(done.records),
                   identities_pseudonymised=done.identities,
                   consents_withdrawn=done.consents_withdrawn, reason=reason, actor=actor)
