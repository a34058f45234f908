"""The referral endpoint: a member's code, link and referrals."""

from __future__ import annotations

from fastapi import APIRouter

from patron.api.deps import Reader, problem_responses
from patron.members.api import MemberId
from patron.referrals import service
from patron.referrals.schemas import ReferralSummary

router = APIRouter(prefix="/members/{member_id}", tags=["referrals"])


@router.get("/referral", response_model=ReferralSummary,
            responses=problem_responses(401, 403, 404))
def get_referral(member_id: MemberId, ctx: Reader) -> ReferralSummary:
    """The member's referral code and shareable link (created on first ask), and the
    members they referred with where each stands."""
    now = ctx.clock.now()
    # a write although the caller only reads: the code is created on first ask
    return ReferralSummary(**ctx.write(lambda conn, program: service.summary(
        conn, program, member_id, now)))
