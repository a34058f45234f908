"""Accepting a merge candidate: the reviewer says the pair is one person, so merge them.

The merge itself (identities, points, orders, history moved with lineage) is
``patron.flows.merging.merge_members``; this flow picks the survivor, merges, and
records on the candidate which merge it made, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from patron.errors import InvalidInput
from patron.flows.merging import merge_members
from patron.matching import candidates
from patron.matching.schemas import MergeCandidate
from patron.program.service import Program


class MergeMembers(Protocol):
    def __call__(self, conn: Connection, program: Program, survivor_id: int, merged_id: int,
                 *, reason: str | None, actor: str, source: str,
                 enrolled_now: bool = False) -> int: ...


class SurvivorNotInPair(InvalidInput):
    code = "survivor_not_in_pair"
    title = "The survivor must be one of the pair"


def default_merge() -> MergeMembers:
    """The real merge (a function, so tests can put a recording one in its place)."""
    return merge_members


def accept(conn: Connection, program: Program, candidate_id: int, *, actor: str,
           now: datetime, survivor_id: int | None = None,
           merge: MergeMembers | Callable[..., Any] | None = None) -> MergeCandidate:
    """Merge the pair into ``survivor_id`` (default the older member, ``member_a``).

    404 ``merge_candidate_not_found``; 409 ``merge_candidate_decided`` when it was
    merged or rejected before; 422 ``survivor_not_in_pair``.
    """
    row = candidates.get(conn, program.id, candidate_id, lock=True)
    candidates.refuse_decided(row)
    survivor = row.member_a if survivor_id is None else survivor_id
    if survivor not in (row.member_a, row.member_b):
        raise SurvivorNotInPair(f"member {survivor} is not one of candidate {row.id}'s pair "
                                f"({row.member_a}, {row.member_b})", field="survivor_id")
    merged = row.member_b if survivor == row.member_a else row.member_a
    merge = merge or default_merge()
    found_by = f" ({row.rule})" if row.rule else ""
    merge_id = merge(conn, program, survivor, merged,
                     reason=f"merge candidate {row.id} accepted{found_by}", actor=actor,
                     source="review")
    candidates.mark_merged(conn, row.id, merge_id, actor, now)
    return candidates.view(conn, program.id, [candidates.get(conn, program.id, row.id)])[0]
