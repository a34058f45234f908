"""The tier endpoints: a member's tier and history, a tier set by hand, a household's tier."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from patron.api.deps import Admin, Reader, problem_responses
from patron.members.api import MemberId
from patron.schemas_common import MAX_INT
from patron.tiers import service
from patron.tiers.schemas import HouseholdTier, ManualTierIn, MemberTier

router = APIRouter(prefix="/members/{member_id}", tags=["tiers"])


@router.get("/tier", response_model=MemberTier, responses=problem_responses(401, 403, 404))
def get_tier(member_id: MemberId, ctx: Reader) -> MemberTier:
    """The member's tier, until when it is secured, the next tier and what it takes, and
    the history of changes with reasons."""
    now = ctx.clock.now()
    return MemberTier(**ctx.read(lambda conn, program: service.member_tier(
        conn, program, member_id, now)))


@router.put("/tier", response_model=MemberTier, responses=problem_responses(401, 403, 404, 422))
def set_tier(member_id: MemberId, payload: ManualTierIn, ctx: Admin) -> MemberTier:
    """Set a tier by hand until a date (admin). The earned tier resumes after it.
    Sending the same request again changes nothing more than the first time."""
    now = ctx.clock.now()

    def work(conn, program):
        service.set_manual(conn, program, member_id, payload.tier, payload.until,
                           payload.reason, ctx.principal.actor, now)
        return service.member_tier(conn, program, member_id, now)
    return MemberTier(**ctx.write(work))


households_router = APIRouter(prefix="/households/{household_id}", tags=["tiers"])


@households_router.get("/tier", response_model=HouseholdTier,
                       responses=problem_responses(401, 403, 404))
def get_household_tier(household_id: Annotated[int, Path(ge=1, le=MAX_INT)],
                       ctx: Reader) -> HouseholdTier:
    """The household's shared tier (``tiers.per: household``) and each member's tier."""
    now = ctx.clock.now()
    return HouseholdTier(**ctx.read(lambda conn, program: service.household_tier(
        conn, program, household_id, now)))
