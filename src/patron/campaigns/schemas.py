"""Campaign payloads: what staff see of a campaign and of who is in it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from patron.campaigns.domain import Group, Status


class CampaignGroups(BaseModel):
    treatment: int = Field(description="Members assigned to treatment (they get the offer)")
    holdout: int = Field(description="Members kept out, to measure the campaign against")


class CampaignSpend(BaseModel):
    points: int = Field(description="Points the campaign's earn rules issued")
    money: int = Field(description="What it cost, minor units: points at the point value, "
                                   "cashback, coupons and rewards given")
    budget_points: int | None = Field(description="The points budget (null: none)")
    budget_money: int | None = Field(description="The money budget, minor units (null: none)")


class Campaign(BaseModel):
    id: str
    name: str
    description: str | None = None
    starts: datetime = Field(description="When the window opens")
    ends: datetime = Field(description="When it closes (exclusive)")
    status: Status
    active: bool
    segment: str | None = Field(description="Target segment key; null: every active member")
    holdout: Decimal = Field(description="Share of the target kept out")
    assigned: CampaignGroups
    spend: CampaignSpend | None = Field(description="Budget used against the budget; "
                                                    "null when the campaign has no budget")


class Assigned(BaseModel):
    campaign_id: str
    target: int = Field(description="Members in the target now")
    treatment: int = Field(description="Newly assigned to treatment")
    holdout: int = Field(description="Newly assigned to the holdout")
    coupons: int = Field(description="Coupons issued to the new treatment members")
    rewards: int = Field(description="Rewards given to the new treatment members")
    money: int = Field(description="Their value, counted against the money budget")
    skipped_for_budget: int = Field(description="Treatment members who got no coupons or "
                                                "reward because the money budget was spent")


class CampaignMember(BaseModel):
    member_id: int
    group: Group
    bucket: int = Field(description="Hash bucket 0..9999 that decided the group")
    assigned_at: datetime
    segment_key: str | None


class CampaignMemberPage(BaseModel):
    items: list[CampaignMember]
    next_cursor: int | None = Field(description="Pass as ?after= for the next page")


GroupFilter = Literal["treatment", "holdout"]
