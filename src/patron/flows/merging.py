"""Merging two members into one, with lineage, and undoing it.

``merge_members`` makes the *merged* member part of the *survivor*: identities,
orders (with their lines), events, coupons, referrals, a household seat and the
tier history are re-pointed (``merging_rows``), points and wallet money move as
new entries that name the merge (``merging_money``), the survivor's tier is
re-placed on the combined history (``patron.tiers.merging``), and the merged
member is left with status ``merged`` and ``merged_into`` the survivor. Nothing
is rewritten or deleted: ``merges.moved`` records every row the merge moved, so
``undo_merge`` restores both members exactly, as new reversing entries.

The statement that reads both members also asks which of those kinds the merged
member holds at all (``HELD``), and only those are moved: a record that enrolment
matching merges in the transaction that enrolled it holds its identities (and a
referral, given a code) and an empty account, so its merge re-points the identities
and records the merge, and the survivor's tier, which nothing joined, stands (as it
does on the undo of such a merge: ``moved.tiers`` is null).

On PostgreSQL a merge that moves only rows (the merged member has no live points, no
wallet money, no tier history: what a record enrolled a moment ago holds) is one
statement once both accounts are locked (``merging_plain``): the same rows moved,
the same merge record, status and history; otherwise, and on SQLite, the merge
takes the steps above (``_merge_in_steps``).

Activity after the merge, on undo: an event belongs to the member whose
(original) identity it came through (``events.identity_id``): events since the
merge that came through an identity the merged member brought go back to it with
their orders and what they earned that is still there; events by member id or
through the survivor's own identities stay with the survivor. Spends stay with
the survivor, taken from its own points first (see ``merging_money``).

Both accounts are locked in id order before anything is read (row locks on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers), so a spend racing
a merge either commits first, and the merge moves what is left, or waits, and
then finds the merged account empty: the same points are never spent twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, exists, insert, or_, select, update

from patron import hooks
from patron.clock import SystemClock
from patron.errors import Conflict, InvalidInput, NotFound
from patron.flows import merging_money, merging_plain, merging_rows
from patron.ledger.holdings import (AccountNotFound, Holding, holdings, lock_points_accounts,
                                    locked_holdings)
from patron.members.standing import MemberErased
from patron.members.tables import member_status_changes, members, merges
from patron.program.service import Program
from patron.tiers import merging as tier_merging
from patron.tiers.tables import tier_states

MERGED, UNDONE = "merged", "undone"


class MergeSelf(InvalidInput):
    code = "merge_self"
    title = "A member cannot be merged with itself"


class AlreadyMerged(Conflict):
    code = "already_merged"
    title = "Member already merged"


class MergeIntoInactive(Conflict):
    code = "merge_into_inactive"
    title = "The surviving member is not active"


class MergeOfBlocked(Conflict):
    code = "merge_of_blocked"
    title = "A blocked member cannot be merged"


class MergeHouseholdHolder(Conflict):
    code = "merge_household_holder"
    title = "A household's account holder is not a person"


class MergeHouseholdConflict(Conflict):
    code = "merge_household_conflict"
    title = "Both members sit in a household, or the merged one's points are pooled"


class MergeNotFound(NotFound):
    code = "merge_not_found"
    title = "Merge not found"


class MergeAlreadyUndone(Conflict):
    code = "merge_already_undone"
    title = "Merge already undone"


class SurvivorMergedAgain(Conflict):
    code = "survivor_merged_again"
    title = "The survivor was merged again since"


def _now(now: datetime | None) -> datetime:
    return now if now is not None else SystemClock().now()


def _member(conn: Connection, program: Program, member_id: int) -> Any:
    row = conn.execute(select(members).where(members.c.program_id == program.id,
                                             members.c.id == member_id)).first()
    if row is None:
        raise AccountNotFound(f"member {member_id} does not exist in this program",
                              member_id=member_id)
    return row


def merge_of_pair(conn: Connection, program: Program, survivor_id: int,
                   merged_id: int) -> int | None:
    return conn.execute(select(merges.c.id).where(
        merges.c.program_id == program.id, merges.c.survivor_id == survivor_id,
        merges.c.merged_id == merged_id, merges.c.state == MERGED)).scalar()


TIER_KINDS = frozenset({"tier", "qualification_entries", "tier_changes"})
"""What the merged member may bring that can move the survivor's tier: a tier of its own,
qualification entries, a tier history. Without any, the merge leaves tiers alone
(``moved.tiers`` is null), and so does its undo."""

HELD: dict[str, Any] = {
    **merging_rows.HELD, **merging_money.HELD,
    "tier": exists().where(tier_states.c.program_id == bindparam("program"),
                           tier_states.c.member_id == bindparam("merged"))}
"""Per kind of rows, points and money a merge moves, whether the merged member holds any."""

_PAIR = select(members, *(present.label(f"holds_{kind}") for kind, present in HELD.items())
               ).where(members.c.program_id == bindparam("program"),
                       or_(members.c.id == bindparam("survivor"),
                           members.c.id == bindparam("merged")))


def _pair(conn: Connection, program: Program, survivor_id: int, merged_id: int
          ) -> tuple[Any, Any, frozenset[str]]:
    """Both members' rows, and the kinds of ``HELD`` the merged member holds: one
    statement, so a merge runs only the moves that have something to move (a record
    enrolled a moment ago holds its identities and nothing else)."""
    found = {row.id: row for row in conn.execute(_PAIR, {
        "program": program.id, "survivor": survivor_id, "merged": merged_id})}
    for member_id in (survivor_id, merged_id):
        if member_id not in found:
            raise AccountNotFound(f"member {member_id} does not exist in this program",
                                  member_id=member_id)
    merged = found[merged_id]
    return found[survivor_id], merged, frozenset(
        kind for kind in HELD if merged._mapping[f"holds_{kind}"])


def _refuse(survivor: Any, merged: Any, held: dict[int, Holding]) -> None:
    """Why these two members cannot be merged, if they cannot (``held``: both holdings,
    which name each member's household seat)."""
    if merged.status == "merged":
        raise AlreadyMerged(f"member {merged.id} was already merged into member "
                            f"{merged.merged_into}", member_id=merged.id,
                            merged_into=merged.merged_into)
    if "household" in (survivor.status, merged.status):
        holder = survivor if survivor.status == "household" else merged
        raise MergeHouseholdHolder(f"member {holder.id} is a household's account holder, "
                                   "not a person: it cannot be merged", member_id=holder.id)
    if survivor.status != "active":
        extra = {"merged_into": survivor.merged_into} if survivor.merged_into else {}
        raise MergeIntoInactive(f"member {survivor.id} is {survivor.status}: merge into an "
                                "active member", member_id=survivor.id,
                                status=survivor.status, **extra)
    if merged.status == "blocked":
        raise MergeOfBlocked(f"member {merged.id} is blocked: unblock it before merging",
                             member_id=merged.id)
    if merged.status == "erased":
        raise MemberErased(f"member {merged.id} was erased: there is nothing left to merge",
                           member_id=merged.id)
    seats = [held[m].household_id for m in (survivor.id, merged.id)]
    if None not in seats:
        raise MergeHouseholdConflict(
            f"members {survivor.id} and {merged.id} both sit in a household: remove one "
            "from its household first", household_ids=seats)
    if held[merged.id].pooled:
        raise MergeHouseholdConflict(
            f"member {merged.id}'s points are pooled in household "
            f"{held[merged.id].household_id}: remove it from the household first",
            household_ids=[held[merged.id].household_id])


def merge_members(conn: Connection, program: Program, survivor_id: int, merged_id: int, *,
                  reason: str | None, actor: str, source: str = "api",
                  now: datetime | None = None, enrolled_now: bool = False) -> int:
    """Merge ``merged_id`` into ``survivor_id``; returns the merge id (the existing one
    when this pair is already merged). Only what the merged member holds is moved (see
    ``HELD``): merging a record enrolled in the same transaction, which holds its
    identities and an empty account, moves the identities and records the merge.
    ``enrolled_now``: the merged member was enrolled in this transaction (enrolment
    matching), so on PostgreSQL the merge first tries the statement that moves only
    ``ENROLLED_KINDS``; whatever it holds, the merge is the same."""
    if survivor_id == merged_id:
        raise MergeSelf(f"member {survivor_id} cannot be merged with itself",
                        member_id=survivor_id)
    now = _now(now)
    held = locked_holdings(conn, program, [survivor_id, merged_id])
    merge_id = _plain_merge(conn, program, held, survivor_id, merged_id, reason=reason,
                            actor=actor, source=source, now=now, enrolled_now=enrolled_now)
    if merge_id is None:
        merge_id, new = _merge_in_steps(conn, program, held, survivor_id, merged_id,
                                        reason=reason, actor=actor, source=source, now=now)
        if not new:
            return merge_id
    hooks.emit(conn, hooks.MembersMerged(program, merge_id, survivor_id, merged_id, now, actor,
                                         source))
    return merge_id


ENROLLED_KINDS = frozenset({"identities", "referrals_as_referee"})
"""The kinds of rows an enrolment gives a new member: its identities and, given a code,
its referral (``patron.flows.enrolment``)."""

_PLAIN = merging_plain.statement(HELD)
_PLAIN_ENROLLED = merging_plain.statement(HELD, ENROLLED_KINDS)


def _plain_merge(conn: Connection, program: Program, held: dict[int, Holding],
                 survivor_id: int, merged_id: int, *, reason: str | None, actor: str,
                 source: str, now: datetime, enrolled_now: bool = False) -> int | None:
    """On PostgreSQL, the merge in one statement when it only moves rows (see
    ``merging_plain``; first the statement for ``ENROLLED_KINDS`` when ``enrolled_now``);
    None when it does more, or is refused (nothing written then)."""
    if conn.dialect.name != "postgresql" or not held.keys() >= {survivor_id, merged_id}:
        return None
    if (held[merged_id].pooled or None not in (held[survivor_id].household_id,
                                               held[merged_id].household_id)):
        return None
    moved = {"status": "active", "tiers": None,
             "points": merging_money.no_points(held[survivor_id]),
             "wallet": merging_money.no_wallet()}
    for statement in (_PLAIN_ENROLLED, _PLAIN) if enrolled_now else (_PLAIN,):
        merge_id = merging_plain.plain_merge(
            conn, statement, program_id=program.id, survivor_id=survivor_id,
            merged_id=merged_id, reason=reason, actor=actor, source=source, now=now,
            moved=moved)
        if merge_id is not None:
            return merge_id
    return None


def _merge_in_steps(conn: Connection, program: Program, held: dict[int, Holding],
                    survivor_id: int, merged_id: int, *, reason: str | None, actor: str,
                    source: str, now: datetime) -> tuple[int, bool]:
    """The merge one step at a time: read both members and what the merged one holds,
    refuse, move rows, money and tiers, record the merge and the merged member's status.
    Returns the merge id and whether it is new (not this pair's standing merge)."""
    survivor, merged, kinds = _pair(conn, program, survivor_id, merged_id)
    # an active member is never the merged one of a merge still standing (merged is final)
    if merged.status != "active" and (
            existing := merge_of_pair(conn, program, survivor_id, merged_id)) is not None:
        return existing, False
    _refuse(survivor, merged, held)
    moved: dict[str, Any] = {
        "status": merged.status,
        "tiers": (tier_merging.standing(conn, program.id, [survivor_id, merged_id])
                  if kinds & TIER_KINDS else None),
        "rows": merging_rows.move_rows(conn, program.id, survivor_id, merged_id, kinds),
        "points": merging_money.no_points(held[survivor_id]),
        "wallet": merging_money.no_wallet()}
    [merge_id] = conn.execute(insert(merges).returning(merges.c.id), dict(
        program_id=program.id, survivor_id=survivor_id, merged_id=merged_id, state=MERGED,
        reason=reason, actor=actor, source=source, moved=moved, created_at=now)).scalars()
    if kinds & merging_money.HELD.keys():
        _move_money(conn, program, merge_id, held[survivor_id], held[merged_id], kinds, moved,
                    actor=actor, now=now)
    _set_status(conn, program, merged, "merged", survivor_id,
                reason or f"merged into member {survivor_id} (merge {merge_id})", actor, now)
    if moved["tiers"] is not None:  # else the combined history is the survivor's own
        tier_merging.place_merged(conn, program, survivor_id, merged_id, merge_id=merge_id,
                                  now=now, actor=actor)
    return merge_id, True


def _move_money(conn: Connection, program: Program, merge_id: int, survivor: Holding,
                merged: Holding, kinds: frozenset[str], moved: dict[str, Any], *, actor: str,
                now: datetime) -> None:
    """Move the merged member's points and wallet money (new entries that name the
    merge) and record on the merge what moved."""
    if "points" in kinds:
        moved["points"] = merging_money.move_points(conn, program, merge_id, survivor=survivor,
                                                    merged=merged, actor=actor, now=now)
    if "wallet" in kinds:
        moved["wallet"] = merging_money.move_wallet(conn, program, merge_id, survivor.member_id,
                                                    merged.member_id, actor=actor, now=now)
    conn.execute(update(merges).where(merges.c.id == merge_id).values(moved=moved))


_SET_STATUS = update(members).where(members.c.id == bindparam("member")).values(
    status=bindparam("to_status"), merged_into=bindparam("into"),
    status_reason=bindparam("why"), status_changed_by=bindparam("by"),
    status_changed_at=bindparam("at"), updated_at=bindparam("at"))


def _set_status(conn: Connection, program: Program, member: Any, status: str,
                merged_into: int | None, reason: str, actor: str, now: datetime) -> None:
    conn.execute(_SET_STATUS, {"member": member.id, "to_status": status, "into": merged_into,
                               "why": reason[:500], "by": actor, "at": now})
    conn.execute(insert(member_status_changes), dict(
        program_id=program.id, member_id=member.id, status=status,
        previous_status=member.status, reason=reason[:500], actor=actor, created_at=now))


def _merge_row(conn: Connection, program: Program, merge_id: int) -> Any:
    row = conn.execute(select(merges).where(merges.c.program_id == program.id,
                                            merges.c.id == merge_id)).first()
    if row is None:
        raise MergeNotFound(f"merge {merge_id} does not exist in this program",
                            merge_id=merge_id)
    return row


def _refuse_undo(conn: Connection, program: Program, merge: Any, survivor: Any) -> None:
    if merge.state == UNDONE:
        raise MergeAlreadyUndone(f"merge {merge.id} was already undone at "
                                 f"{merge.undone_at.isoformat()} by {merge.undone_by}",
                                 merge_id=merge.id)
    if survivor.status == "erased":
        raise MemberErased(f"member {survivor.id}, the survivor of merge {merge.id}, was "
                           "erased: the merge cannot be undone", member_id=survivor.id,
                           merge_id=merge.id)
    if survivor.status == "merged":
        later = conn.execute(select(merges.c.id).where(
            merges.c.merged_id == survivor.id, merges.c.state == MERGED)).scalar()
        raise SurvivorMergedAgain(
            f"member {survivor.id}, the survivor of merge {merge.id}, was merged into member "
            f"{survivor.merged_into} later (merge {later}): undo merge {later} first",
            merge_id=merge.id, later_merge_id=later, merged_into=survivor.merged_into)


def undo_merge(conn: Connection, program: Program, merge_id: int, *, actor: str,
               now: datetime | None = None) -> None:
    """Give the merged member back everything the merge moved (see the module)."""
    now = _now(now)
    merge = _merge_row(conn, program, merge_id)
    lock_points_accounts(conn, program.id, sorted((merge.survivor_id, merge.merged_id)))
    merge = _merge_row(conn, program, merge_id)
    survivor = _member(conn, program, merge.survivor_id)
    _refuse_undo(conn, program, merge, survivor)
    merged = _member(conn, program, merge.merged_id)
    held = holdings(conn, program, [merge.survivor_id, merge.merged_id])
    undo = merging_money.give_back_points(conn, program, merge, survivor=held[survivor.id],
                                          returning=held[merged.id], actor=actor, now=now)
    undo.update(merging_money.give_back_wallet(conn, program, merge, actor=actor, now=now))
    rows = merge.moved.get("rows") or {}
    after = merging_rows.after_merge_events(conn, rows, survivor.id)
    if after:
        held = holdings(conn, program, [merge.survivor_id, merge.merged_id])
        undo["after_merge"] = merging_money.give_back_earned(
            conn, program, merge, after, survivor=held[survivor.id], returning=held[merged.id],
            actor=actor, now=now)
        undo["after_merge"]["orders"] = merging_rows.give_back_events(conn, after, merged.id)
    merging_rows.restore_rows(conn, rows, merged.id)
    _set_status(conn, program, merged, merge.moved.get("status", "active"), None,
                f"merge {merge.id} into member {survivor.id} undone", actor, now)
    standing = merge.moved.get("tiers", {})
    for member_id in (survivor.id, merged.id) if standing is not None else ():
        tier_merging.place_parted(conn, program, member_id, standing.get(str(member_id)),
                                  merge_id=merge.id, now=now, actor=actor)
    conn.execute(update(merges).where(merges.c.id == merge.id).values(
        state=UNDONE, undone_at=now, undone_by=actor, moved={**merge.moved, "undo": undo}))
    hooks.emit(conn, hooks.MergeUndone(program, merge.id, survivor.id, merged.id, now, actor))


def merge_out(row: Any) -> dict[str, Any]:
    """One merge as the API shows it: what it moved, counted."""
    moved = row.moved or {}
    counts = {name: len(ids) for name, ids in (moved.get("rows") or {}).items()}
    points = moved.get("points") or {}
    wallet = moved.get("wallet") or {}
    return dict(id=row.id, survivor_id=row.survivor_id, merged_id=row.merged_id,
                state=row.state, reason=row.reason, actor=row.actor, source=row.source,
                created_at=row.created_at, undone_at=row.undone_at, undone_by=row.undone_by,
                moved=dict(counts, points_available=points.get("available", 0),
                           points_pending=points.get("pending", 0),
                           lots=points.get("lots", 0), wallet_balance=wallet.get("balance", 0),
                           wallet_holds=len(wallet.get("holds") or {})),
                undo=moved.get("undo"))


def get_merge(conn: Connection, program: Program, merge_id: int) -> dict[str, Any]:
    return merge_out(_merge_row(conn, program, merge_id))


def merges_of(conn: Connection, program: Program, member_id: int) -> list[dict[str, Any]]:
    """Every merge the member took part in, as survivor or as merged, newest first."""
    _member(conn, program, member_id)
    rows = conn.execute(select(merges).where(
        merges.c.program_id == program.id,
        (merges.c.survivor_id == member_id) | (merges.c.merged_id == member_id))
        .order_by(merges.c.id.desc()))
    return [merge_out(row) for row in rows]
