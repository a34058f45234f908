from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from patron.api.deps import Reader, problem_responses
from patron.members.api import MemberId
from patron.referrals import service

router = APIRouter(prefix="/members/{member_id}", tags=["referrals"])


class Referred(BaseModel):
    referee_id: int
    state: str = Field(description="pending, qualified, paid, refused or void")
    reason: str | None
    attributed_at: datetime
    order_id: str | None
    pay_after: datetime | None


class ReferredBy(BaseModel):
    referrer_id: int
    state: str
    reason: str | None


class ReferralSummary(BaseModel):
    member_id: int
    code: str
    link: str
    counts: dict[str, int] = Field(description="The member's referrals by state")
    referrals: list[Referred] = Field(description="The latest 50, newest first")
    referred_by: ReferredBy | None


@router.get("/referral", response_model=ReferralSummary,
            responses=problem_responses(401, 403, 404))
def get_referral(member_id: MemberId, ctx: Reader) -> ReferralSummary:
    """The member's referral code and shareable link (created on first ask), and the
    members they referred with where each stands."""
    now = ctx.clock.now()
    # a write although the caller only reads: the code is created on first ask
    return ReferralSummary(**ctx.write(lambda conn, program: service.summary(
        conn, program, member_id, now)))
