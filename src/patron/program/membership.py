"""The membership sections of the program document: tiers, paid plans, households.

Tiers are an ordered ladder on one qualification metric over a window. A member
moves up the moment they qualify; they move down only when a qualification
period ends, after the grace period, and by at most ``max_drop`` levels. Paid
membership plans add benefits (and a tier floor) while they are paid for.
Households let a family pool its points.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"

Metric = Literal["tier_points", "qualifying_spend", "orders"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QualificationWindow(_Model):
    type: Literal["rolling_months", "calendar_year", "membership_year"] = Field(
        "calendar_year", description="rolling_months: the last N months; calendar_year: "
        "January to December in the program timezone; membership_year: from the join date")
    months: int | None = Field(None, ge=1, le=120, description="rolling_months only: N")

    @model_validator(mode="after")
    def _months_for_rolling(self) -> QualificationWindow:
        if (self.type == "rolling_months") != (self.months is not None):
            raise ValueError("months is required for rolling_months, and only for it")
        return self


class Benefits(_Model):
    earn_multiplier: Decimal = Field(Decimal(1), ge=1, le=100, description="Read by rules "
                                     "with points.benefit_multiplier (2 = double points)")
    perks: list[str] = Field(default_factory=list, description="Named perks the API lists")
    rewards: list[str] = Field(default_factory=list, description="Reward ids only this level "
                               "(or plan) may redeem")


class TierLevel(_Model):
    id: str = Field(pattern=RULE_ID)
    name: str = Field(min_length=1, max_length=120)
    threshold: int = Field(ge=0, description="Metric value that qualifies: points, minor "
                           "units of spend, or orders")
    benefits: Benefits = Field(default_factory=Benefits)


class Tiers(_Model):
    metric: Metric = Field("tier_points", description="tier_points: points of rules with "
                           "tier_points: true (not spendable); qualifying_spend: order totals "
                           "net of returns; orders: orders not fully returned")
    window: QualificationWindow = Field(default_factory=QualificationWindow)
    grace_days: int = Field(30, ge=0, le=365, description="Days after a period ends before "
                            "a member who did not requalify moves down")
    max_drop: int = Field(1, ge=1, le=20, description="Most levels one review moves down")
    per: Literal["member", "household"] = Field("member", description="household: members "
                                                "of a household share its tier")
    returns_downgrade_immediately: bool = Field(
        False, description="A return that takes a member below the tier they reached in the "
        "current period moves them down at once (default: at the next review)")
    levels: list[TierLevel] = Field(min_length=1, max_length=20, description="Lowest first; "
                                    "the first level's threshold is 0")

    @model_validator(mode="after")
    def _ladder(self) -> Tiers:
        if self.levels[0].threshold != 0:
            raise ValueError("the first level is where every member starts: threshold 0")
        for lower, upper in zip(self.levels, self.levels[1:]):
            if upper.threshold <= lower.threshold:
                raise ValueError(f"thresholds must increase: {upper.id!r} "
                                 f"({upper.threshold}) is not above {lower.id!r} "
                                 f"({lower.threshold})")
        ids = [level.id for level in self.levels]
        if len(set(ids)) != len(ids):
            raise ValueError("tier ids must be unique")
        return self

    def index(self, tier_id: str | None) -> int:
        for i, level in enumerate(self.levels):
            if level.id == tier_id:
                return i
        return 0

    def level(self, tier_id: str | None) -> TierLevel:
        return self.levels[self.index(tier_id)]

    def qualified(self, value: int) -> int:
        """Index of the highest level ``value`` reaches."""
        best = 0
        for i, level in enumerate(self.levels):
            if value >= level.threshold:
                best = i
        return best


class PlanBenefits(Benefits):
    tier_floor: str | None = Field(None, description="Tier id the member holds at least while "
                                   "the plan is active")
    welcome_bonus: int = Field(0, ge=0, le=100_000_000, description="Points on subscribing")


class MembershipPlan(_Model):
    id: str = Field(pattern=RULE_ID)
    name: str = Field(min_length=1, max_length=120)
    price: int = Field(ge=0, description="Per period, minor units of the program currency")
    period_months: int = Field(12, ge=1, le=36)
    grace_days: int = Field(14, ge=0, le=365, description="Unpaid renewals lapse after this")
    benefits: PlanBenefits = Field(default_factory=PlanBenefits)


class Households(_Model):
    pooled_points: bool = Field(False, description="Members' earnings go to the household "
                                "account; the owner and authorised adults spend from it")
    max_members: int = Field(8, ge=2, le=50)
    leaving_member_points: Literal["stay", "leave_with_member"] = Field(
        "stay", description="stay: a member who leaves leaves the pooled points behind; "
        "leave_with_member: they take what they earned that the household still holds")
