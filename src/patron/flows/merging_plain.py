"""A plain merge on PostgreSQL: one statement, once both accounts are locked.

Many merges move rows and nothing else: the merged member has no live points, no
wallet money and nothing that can move the survivor's tier (a record that enrolment
matching merges in the transaction that enrolled it holds its identities, an empty
account and maybe a referral). ``statement`` builds such a merge in one statement:
a guard (both members active in the program, the merged one holding none of
``MONEY_AND_TIER_KINDS``), every repoint of ``merging_rows.HANDOVERS`` as an
``UPDATE … RETURNING`` under that guard, the merge record with what moved (the ids,
listed in SQL), the merged member's status and its status history: the same rows,
the same record and the same lineage as ``merging.merge_members``' own steps, which
run instead when the guard does not hold (and then refuse, or move money and tiers).

It is one statement because building and sending the steps' six cost more than
the merge itself (enrolment matching merges inside the enrolment's request); its
snapshot is taken after ``locked_holdings`` locked both accounts, so a
spend or a merge racing this one has either committed (and the guard sees it) or
waits. SQLite keeps the steps (``BEGIN IMMEDIATE`` serialises the writers).

A statement may re-point only some kinds of rows (``statement(held, moving)``), its
guard requiring that the merged member holds none of the others: enrolment matching
merges a record that holds its identities and perhaps a referral, and that merge
names two tables to update instead of twenty (``merging.ENROLLED_KINDS``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (BigInteger, Connection, String, bindparam, cast, exists, func, insert,
                        literal_column, or_, select, update)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by

from patron.flows import merging_rows
from patron.members.tables import member_status_changes, members, merges

MONEY_AND_TIER_KINDS = ("points", "wallet", "tier", "qualification_entries", "tier_changes")
"""What the merged member must not hold for a plain merge: points and wallet money move
as ledger entries, and a tier history re-places the survivor's tier."""


PROGRAM, SURVIVOR, MERGED = (bindparam(name, type_=BigInteger)
                             for name in ("program", "survivor", "merged"))
# not named after a column: an UPDATE sets the columns its parameters are named after
REASON, ACTOR, SOURCE = (bindparam(f"merge_{name}", type_=String)
                         for name in ("reason", "actor", "source"))
MOVED = bindparam("merge_moved", type_=JSONB)
NOW = bindparam("merge_now", type_=merges.c.created_at.type)


def _guard(held: dict[str, Any], unmoved: Sequence[str]) -> Any:
    """Whether the merge is plain: both members active, the merged one holding none of
    ``MONEY_AND_TIER_KINDS`` nor of the ``unmoved`` kinds of rows (else ``merge_members``
    takes the full statement or its steps, and refuses)."""
    def active(member: Any) -> Any:
        return exists().where(members.c.program_id == PROGRAM, members.c.id == member,
                              members.c.status == "active")

    guard = select(literal_column("1").label("ok")).where(
        active(SURVIVOR), active(MERGED),
        ~or_(*(held[kind] for kind in (*MONEY_AND_TIER_KINDS, *unmoved)))).cte("plain")
    return exists(select(guard.c.ok))


def _record(moves: dict[str, Any], guarded: Any) -> Any:
    """The merge record: ``merge_moved`` with ``rows``, each kind's moved ids in order
    (``merging_rows.move_rows``' record), an empty list for a kind not moved."""
    def ids(name: str) -> Any:
        if name not in moves:
            return func.jsonb_build_array()
        return select(func.coalesce(
            func.jsonb_agg(aggregate_order_by(moves[name].c.id, moves[name].c.id)),
            func.jsonb_build_array())).scalar_subquery()

    rows = func.jsonb_build_object(*(part for name, _ in merging_rows.HANDOVERS
                                     for part in (literal_column(f"'{name}'"), ids(name))))
    moved = cast(MOVED, JSONB).op("||")(func.jsonb_build_object(literal_column("'rows'"), rows))
    return insert(merges).from_select(
        ["program_id", "survivor_id", "merged_id", "state", "reason", "actor", "source",
         "moved", "created_at"],
        select(PROGRAM, SURVIVOR, MERGED, literal_column("'merged'"), REASON, ACTOR, SOURCE,
               moved, NOW).where(guarded)).returning(merges.c.id).cte("merge")


def _status(record: Any) -> tuple[Any, Any]:
    """The merged member's status ``merged`` and its status history row, as
    ``merging._set_status`` writes them (the reason names the merge when none is given)."""
    why = func.substr(func.coalesce(
        REASON, literal_column("'merged into member '") + cast(SURVIVOR, String)
        + literal_column("' (merge '") + cast(record.c.id, String) + literal_column("')'")),
        literal_column("1"), literal_column("500"))
    status = update(members).where(members.c.id == MERGED, exists(select(record.c.id))).values(
        status=literal_column("'merged'"), merged_into=SURVIVOR,
        status_reason=select(why).scalar_subquery(), status_changed_by=ACTOR,
        status_changed_at=NOW, updated_at=NOW).cte("merged_status")
    history = insert(member_status_changes).from_select(
        ["program_id", "member_id", "status", "previous_status", "reason", "actor",
         "created_at"],
        select(PROGRAM, MERGED, literal_column("'merged'"), literal_column("'active'"), why,
               ACTOR, NOW).select_from(record)).cte("status_change")
    return status, history


def statement(held: dict[str, Any], moving: Collection[str] | None = None) -> Any:
    """The plain merge, built from ``held`` (``merging.HELD``: per kind, whether the
    merged member holds any); it returns the merge's id, or no row when the guard did
    not hold (and then wrote nothing). ``moving``: the kinds of rows of
    ``merging_rows.HANDOVERS`` it re-points (default all); the guard then also requires
    the merged member to hold none of the others: the same merge, with fewer tables to
    update (PostgreSQL opens and locks every index of a table an update names, whether
    or not a row changes)."""
    names = [name for name, _ in merging_rows.HANDOVERS]
    moving = set(names) if moving is None else set(moving)
    guarded = _guard(held, [name for name in names if name not in moving])
    moves = {name: handover.where(guarded).cte(f"moved_{name}")
             for name, handover in merging_rows.HANDOVERS if name in moving}
    record = _record(moves, guarded)
    return select(record.c.id).add_cte(*moves.values(), *_status(record))


def plain_merge(conn: Connection, statement: Any, *, program_id: int, survivor_id: int,
                merged_id: int, reason: str | None, actor: str, source: str,
                moved: dict[str, Any], now: datetime) -> int | None:
    """Run ``statement`` (see ``statement``): the merge's id, or None when the guard did
    not hold (nothing was written). ``moved``: the merge's record but its ``rows``
    (listed in SQL)."""
    return conn.execute(statement, {
        "program": program_id, "survivor": survivor_id, "merged": merged_id,
        "merge_reason": reason, "merge_actor": actor, "merge_source": source,
        "merge_moved": moved, "merge_now": now}).scalar()
