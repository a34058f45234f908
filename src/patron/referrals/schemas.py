"""The referral API's payloads: a member's code and link, and who referred whom."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


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
