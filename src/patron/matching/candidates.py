"""The review queue: pairs of members that may be one person, waiting for a decision.

A pair is stored once per program, lower member id first. Whatever found it
(a suggest rule at enrolment, a model's score between the two thresholds, a
batch match) calls ``suggest``; a person accepts it (the pair is merged, see
``patron.flows.match_review``) or rejects it. A rejected pair is never suggested
again, whatever finds it next: the reviewer said they are two people.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks

from patron.errors import Conflict, InvalidInput, NotFound
from patron.matching import repository
from patron.matching.schemas import CandidateIdentity, CandidateMember, MergeCandidate
from patron.members import repository as member_repository


class CandidateNotFound(NotFound):
    code = "merge_candidate_not_found"
    title = "Merge candidate not found"


class CandidateDecided(Conflict):
    code = "merge_candidate_decided"
    title = "Merge candidate already decided"


def suggest(conn: Connection, program_id: int, member_a: int, member_b: int, *,
            probability: float, rule: str | None, evidence: dict[str, Any],
            now: datetime) -> int | None:
    """Queue the pair for review; its id, or None when the pair is known already
    (queued, merged, or rejected before: then it is never suggested again)."""
    if member_a == member_b:
        raise InvalidInput("a member cannot be a merge candidate with itself",
                           member_id=member_a)
    low, high = sorted((member_a, member_b))
    return repository.insert_candidate(
        conn, program_id=program_id, member_a=low, member_b=high,
        probability=float(probability), rule=rule, evidence=evidence, state="pending",
        created_at=now)


def get(conn: Connection, program_id: int, candidate_id: int, *,
        lock: bool = False) -> Any:
    """The candidate's row (locked for a decision when ``lock``); 404 when unknown."""
    row = repository.candidate(conn, program_id, candidate_id, lock=lock)
    if row is None:
        raise CandidateNotFound(f"merge candidate {candidate_id} does not exist in this program",
                                candidate_id=candidate_id)
    return row


def refuse_decided(row: Any) -> None:
    if row.state != "pending":
        raise CandidateDecided(f"merge candidate {row.id} is already {row.state}",
                               candidate_id=row.id, state=row.state)


def reject(conn: Connection, program_id: int, candidate_id: int, *, actor: str,
           reason: str | None, now: datetime) -> MergeCandidate:
    """The pair is two people. Rejecting a rejected candidate again changes nothing;
    a merged one is 409 ``merge_candidate_decided``."""
    row = get(conn, program_id, candidate_id, lock=True)
    if row.state != "rejected":
        refuse_decided(row)
        repository.decide_candidate(conn, row.id, state="rejected", actor=actor, at=now,
                                    reason=reason)
    return view(conn, program_id, [repository.candidate(conn, program_id, row.id)])[0]


def mark_merged(conn: Connection, candidate_id: int, merge_id: int, actor: str,
                now: datetime) -> None:
    """Record that the pair was merged (by ``merge_id``); 409 when it was decided before."""
    if not repository.decide_candidate(conn, candidate_id, state="merged", actor=actor,
                                       at=now, merge_id=merge_id):
        row = repository.candidate_by_id(conn, candidate_id)
        if row is None:
            raise CandidateNotFound(f"merge candidate {candidate_id} does not exist",
                                    candidate_id=candidate_id)
        refuse_decided(row)


def pending(conn: Connection, program_id: int, after: int | None = None, limit: int = 50, *,
            state: str = "pending") -> tuple[list[MergeCandidate], int | None]:
    """A page of candidates in ``state`` (oldest first) with both members' profiles and
    identities, and the cursor of the next page."""
    rows = repository.candidate_page(conn, program_id, state, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return view(conn, program_id, rows), (rows[-1].id if more and rows else None)


def view(conn: Connection, program_id: int, rows: Sequence[Any]) -> list[MergeCandidate]:
    ids = sorted({i for row in rows for i in (row.member_a, row.member_b)})
    people = {row.id: row for row in repository.member_rows(conn, program_id, ids)}
    identities = member_repository.identities_of(conn, ids)

    def member(member_id: int) -> CandidateMember:
        row = people[member_id]
        fields = {name: getattr(row, name) for name in CandidateMember.model_fields
                  if name != "identities"}
        return CandidateMember(**fields, identities=[
            CandidateIdentity(type=i.type, value=i.value, channel=i.channel)
            for i in identities[member_id]])

    return [MergeCandidate(
        id=row.id, state=row.state, probability=row.probability, rule=row.rule,
        evidence=row.evidence or {}, member_a=member(row.member_a), member_b=member(row.member_b),
        created_at=row.created_at, decided_by=row.decided_by, decided_at=row.decided_at,
        reason=row.reason, merge_id=row.merge_id) for row in rows]


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """A pair's evidence quotes both profiles: it goes. A pair still waiting for review is
    rejected (nobody is left to merge), with ``member erased`` as its reason."""
    repository.forget_candidates(conn, happened.program.id, happened.records,
                                 actor=happened.actor, now=happened.at)
