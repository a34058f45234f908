"""The tier API's payloads: a member's tier and history, a household's, a tier set by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from patron.schemas_common import Code, Instant, Text


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
