"""The review queue over HTTP: pairs that may be one person, accepted or rejected."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy import Connection

from patron.api.deps import Admin, Context, IdempotencyKey, Reader, problem_responses
from patron.flows import match_review
from patron.idempotency.service import run_once
from patron.matching import candidates
from patron.matching.schemas import (CandidateAccept, CandidateReject, CandidateState,
                                     MergeCandidate, MergeCandidatePage)
from patron.program.service import Program
from patron.schemas_common import MAX_INT

router = APIRouter(prefix="/merge-candidates", tags=["matching"])
CandidateId = Annotated[int, Path(ge=1, le=MAX_INT, description="The merge candidate's id")]


def _once(ctx: Context, key: str | None, operation: str, payload: dict[str, Any],
          decide: Callable[[Connection, Program], MergeCandidate]) -> MergeCandidate:
    """Decide once per Idempotency-Key: a retry returns the first answer."""
    def work(conn: Connection, program: Program) -> tuple[int, Any, bool]:
        def run() -> tuple[int, Any]:
            return 200, decide(conn, program).model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=key, operation=operation,
                        payload=payload, now=ctx.clock.now(), work=run)
    _, body, _ = ctx.write(work)
    return MergeCandidate.model_validate(body)


@router.get("", response_model=MergeCandidatePage, responses=problem_responses(401, 403, 422))
def list_candidates(ctx: Reader,
                    state: Annotated[CandidateState, Query()] = "pending",
                    after: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
                    limit: Annotated[int, Query(ge=1, le=200)] = 50) -> MergeCandidatePage:
    """Pairs of members that may be one person, oldest first, each with both members'
    profiles and identities and the evidence per field that matched them."""
    items, cursor = ctx.read(lambda conn, program: candidates.pending(
        conn, program.id, after, limit, state=state))
    return MergeCandidatePage(items=items, next_cursor=cursor)


@router.post("/{candidate_id}/reject", response_model=MergeCandidate,
             responses=problem_responses(401, 403, 404, 409, 422))
def reject_candidate(candidate_id: CandidateId, ctx: Admin,
                     payload: Annotated[CandidateReject | None, Body()] = None,
                     idempotency_key: IdempotencyKey = None) -> MergeCandidate:
    """The two are different people: the pair is never suggested again.

    Rejecting a rejected candidate again changes nothing. 404
    ``merge_candidate_not_found``; 409 ``merge_candidate_decided`` when it was merged.
    """
    reason = payload.reason if payload else None
    return _once(ctx, idempotency_key, "reject_merge_candidate",
                 {"candidate_id": candidate_id, "reason": reason},
                 lambda conn, program: candidates.reject(
                     conn, program.id, candidate_id, actor=ctx.principal.actor, reason=reason,
                     now=ctx.clock.now()))


@router.post("/{candidate_id}/accept", response_model=MergeCandidate,
             responses=problem_responses(401, 403, 404, 409, 422))
def accept_candidate(candidate_id: CandidateId, ctx: Admin,
                     payload: Annotated[CandidateAccept | None, Body()] = None,
                     idempotency_key: IdempotencyKey = None) -> MergeCandidate:
    """The two are one person: merge them into the survivor (default the older member,
    ``member_a``). The answer names the merge (``merge_id``), which can be undone.

    404 ``merge_candidate_not_found``; 409 ``merge_candidate_decided`` when it was
    merged or rejected before (a retry with the same Idempotency-Key returns the first
    answer); 422 ``survivor_not_in_pair``.
    """
    survivor = payload.survivor_id if payload else None
    return _once(ctx, idempotency_key, "accept_merge_candidate",
                 {"candidate_id": candidate_id, "survivor_id": survivor},
                 lambda conn, program: match_review.accept(
                     conn, program, candidate_id, actor=ctx.principal.actor,
                     now=ctx.clock.now(), survivor_id=survivor))
