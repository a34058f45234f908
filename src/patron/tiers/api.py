from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from patron.api.deps import Admin, Reader, problem_responses
from patron.members.api import MemberId
from patron.schemas_common import MAX_INT, Code, Instant, Text
from patron.tiers import service

router = APIRouter(prefix="/members/{member_id}", tags=["tiers"])


class TierRef(BaseModel):
    id: str
    name: str


class Metric(BaseModel):
    name: str = Field(description="tier_points, qualifying_spend (minor units) or orders")
    value: int
    window_start: datetime
    window_end: datetime


class NextTier(BaseModel):
    id: str
    name: str
    threshold: int
    remaining: int = Field(description="What the metric still needs")
    by: datetime | None = Field(description="End of the window it must be reached in "
                                            "(rolling windows: none, the window moves)")


class TierBenefits(BaseModel):
    earn_multiplier: str
    perks: list[str]
    rewards: list[str]


class ManualTier(BaseModel):
    tier: str
    until: datetime
    reason: str | None


class TierChange(BaseModel):
    from_tier: str | None
    to_tier: str
    kind: str = Field(description="upgrade, downgrade, retained, manual, manual_end, "
                      "household_join or household_leave")
    at: datetime
    reason: str


class MemberTier(BaseModel):
    member_id: int
    tier: TierRef
    source: Literal["earned", "manual", "membership"]
    shared_with: list[int] = Field(description="Household members sharing this tier "
                                   "(tiers.per: household)")
    earned_tier: str
    since: datetime
    secured_until: datetime | None = Field(description="Kept at least until then")
    review_at: datetime | None = Field(description="When the next review may move it down")
    metric: Metric
    next_tier: NextTier | None
    benefits: TierBenefits
    manual: ManualTier | None
    history: list[TierChange]


class MemberTierRef(BaseModel):
    tier: TierRef
    source: str


class HouseholdTier(BaseModel):
    household_id: int
    per: Literal["member", "household"]
    tier: MemberTier | None = Field(description="The tier the household shares (per: "
                                    "household), as its owner holds it")
    members: dict[str, MemberTierRef] = Field(description="Each member's tier, by member id")


class ManualTierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: Code
    until: Instant = Field(description="A manual tier always ends")
    reason: Text = Field(min_length=1, max_length=500)


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
