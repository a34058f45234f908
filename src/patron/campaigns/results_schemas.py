"""Campaign results payloads: treatment against holdout, lift, cost and ROI."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Status = Literal["upcoming", "running", "attributing", "ended"]


class GroupResult(BaseModel):
    members: int = Field(description="Members assigned to the group")
    activated: int = Field(description="Members with at least one purchase in the period")
    new_members: int = Field(description="Members who enrolled inside the campaign window")
    orders: int
    revenue: int = Field(description="Order totals less returned lines, minor units")
    spend_per_member: int = Field(description="revenue / members (zero spenders count), "
                                  "minor units")
    orders_per_member: float
    points_redeemed: int = Field(description="Points the group's members spent in the period")


class LiftResult(BaseModel):
    method: Literal["welch"] = "welch"
    treatment_mean: float
    holdout_mean: float
    difference: float = Field(description="Treatment mean − holdout mean, per member")
    low: float | None = Field(description="95% interval (Welch t, Welch–Satterthwaite df)")
    high: float | None
    relative: float | None = Field(description="difference / holdout mean (0.08 = +8%)")
    relative_low: float | None = Field(description="95% interval by the delta method")
    relative_high: float | None
    degrees_of_freedom: float | None
    note: str | None = Field(None, description="Why an interval is missing or degenerate")


class RewardCount(BaseModel):
    reward_id: str
    name: str
    redemptions: int
    points: int


class BeforeAfter(BaseModel):
    causal: Literal[False] = False
    note: str
    before_start: datetime
    before_spend_per_member: int
    after_spend_per_member: int
    change: int
    relative_change: float | None


class CampaignResults(BaseModel):
    campaign_id: str
    name: str
    program_version: int
    status: Status
    starts: datetime
    ends: datetime = Field(description="End of the campaign window (exclusive)")
    attribution_days: int
    measured_until: datetime = Field(description="ends + attribution_days: purchases "
                                     "before it count (exclusive)")
    holdout_share: float
    reach: int = Field(description="Treatment members assigned")
    treatment: GroupResult
    holdout: GroupResult | None = Field(description="None when the campaign has no holdout")
    points_issued: int = Field(description="Points the campaign's earn rules awarded")
    cashback: int = Field(description="Cashback the campaign's earn rules paid, minor units")
    coupons_issued: int
    coupons_used: int
    coupon_value_used: int = Field(description="Discount of the campaign's coupons used")
    top_rewards: list[RewardCount] = Field(description="Rewards treatment members redeemed "
                                           "most in the period (top 5)")
    spend_lift: LiftResult | None
    orders_lift: LiftResult | None
    incremental_revenue: int | None = Field(description="spend lift × treatment members")
    incremental_revenue_low: int | None
    incremental_revenue_high: int | None
    cost: int = Field(description="points issued × point value + cashback + coupon value used")
    roi: float | None = Field(description="(incremental revenue − cost) / cost")
    before_after: BeforeAfter | None = Field(description="Without a holdout: treatment "
                                             "before vs during (not causal)")
    currency: str
