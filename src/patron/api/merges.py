"""Merging members over HTTP: merge one member into another, read merges, undo one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from patron.api.deps import Admin, Reader, problem_responses
from patron.flows import merging
from patron.schemas_common import MAX_INT, Id

router = APIRouter(tags=["merges"])
MemberPath = Annotated[int, Path(ge=1, le=MAX_INT, description="The member's id")]
MergePath = Annotated[int, Path(ge=1, le=MAX_INT, description="The merge's id")]


class MergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: Id = Field(description="The member merged into the one in the path, which "
                                      "survives")
    reason: str | None = Field(None, max_length=500, description="Why they are one person")


class Merge(BaseModel):
    id: int
    survivor_id: int = Field(description="The member that remains")
    merged_id: int = Field(description="The member merged into it (status ``merged``)")
    state: str = Field(description="``merged``, or ``undone``")
    reason: str | None
    actor: str = Field(description="Who merged them")
    source: str = Field(description="``api``, or the matching that merged them")
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None
    moved: dict[str, int] = Field(description="What the merge moved: rows re-pointed per "
                                              "kind, points, lots and wallet money")
    undo: dict[str, Any] | None = Field(
        None, description="What the undo gave back, and what the survivor could not cover "
                          "(``points_shortfall``, ``wallet_shortfall``)")


class MergeList(BaseModel):
    merges: list[Merge]


@router.post("/members/{survivor}/merges", status_code=201, response_model=Merge,
             responses=problem_responses(401, 403, 404, 409, 422))
def merge_member(survivor: MemberPath, payload: MergeCreate, ctx: Admin,
                 response: Response) -> Merge:
    """Merge ``member_id`` into the member in the path, which survives (admin keys only).

    Identities, points (each lot with its expiry, pending points still pending), wallet
    money, orders, referrals, coupons, a household seat and the tier history move to the
    survivor as new entries that name the merge; the merged member answers with
    ``merged_into``. Sending the same pair again returns the same merge (200).
    Refusals: 422 ``merge_self``; 404 ``member_not_found`` (also for another program's
    member); 409 ``already_merged``, ``merge_into_inactive`` (closed, blocked or merged
    survivor), ``merge_of_blocked``, ``merge_household_holder``,
    ``merge_household_conflict``.
    """
    now = ctx.clock.now()

    def work(conn: Any, program: Any) -> tuple[dict[str, Any], bool]:
        existing = merging.merge_of_pair(conn, program, survivor, payload.member_id)
        merge_id = existing or merging.merge_members(
            conn, program, survivor, payload.member_id, reason=payload.reason,
            actor=ctx.principal.actor, source="api", now=now)
        return merging.get_merge(conn, program, merge_id), existing is None
    found, created = ctx.write(work)
    response.status_code = 201 if created else 200
    return Merge(**found)


@router.get("/members/{member}/merges", response_model=MergeList,
            responses=problem_responses(401, 403, 404))
def list_merges(member: MemberPath, ctx: Reader) -> MergeList:
    """The merges a member took part in, as survivor or as merged, newest first."""
    return MergeList(merges=[Merge(**m) for m in ctx.read(
        lambda conn, program: merging.merges_of(conn, program, member))])


@router.get("/merges/{merge_id}", response_model=Merge,
            responses=problem_responses(401, 403, 404))
def get_merge(merge_id: MergePath, ctx: Reader) -> Merge:
    """One merge: who, why, when, what it moved, and its undo."""
    return Merge(**ctx.read(lambda conn, program: merging.get_merge(conn, program, merge_id)))


@router.post("/merges/{merge_id}/undo", response_model=Merge,
             responses=problem_responses(401, 403, 404, 409))
def undo_merge(merge_id: MergePath, ctx: Admin) -> Merge:
    """Undo a merge (admin keys only): both members as they were before it, through new
    reversing entries; points the survivor spent since from the merged member's lots are
    paid back from its own first. 409 ``merge_already_undone``; 409
    ``survivor_merged_again`` when the survivor was merged into another member since
    (undo that merge first)."""
    now = ctx.clock.now()

    def work(conn: Any, program: Any) -> dict[str, Any]:
        merging.undo_merge(conn, program, merge_id, actor=ctx.principal.actor, now=now)
        return merging.get_merge(conn, program, merge_id)
    return Merge(**ctx.write(work))
