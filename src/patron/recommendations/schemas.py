"""API payloads of recommendations."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Source = Literal["model", "popular"]


class _Scored(BaseModel):
    score: float = Field(description="How likely, by the model (higher is likelier; compare "
                         "within one list). A popular item's score is the share of members "
                         "who have it")
    reason: str = Field(description='Why, e.g. "members who buy coffee beans also redeem '
                        'Coffee mug" or "popular: bought by 412 members"')
    source: Source = Field(description="model: chosen for this member by the model; popular: "
                           "the program's most popular, where the model had nothing to say")


class RecommendedReward(_Scored):
    reward_id: str
    name: str
    type: str
    cost_points: int


class RecommendedCategory(_Scored):
    category: str


class RecommendedProduct(_Scored):
    sku: str


class ModelInfo(BaseModel):
    algorithm: str
    trained_at: datetime
    program_version: int = Field(description="The program version whose catalog it was "
                                 "trained on")


class MemberRecommendations(BaseModel):
    """What the member is likely to redeem and buy next, as the last training found."""

    member_id: int
    basis: Literal["member", "popular", "none"] = Field(
        description="member: the member's own history; popular: the program's most popular "
                    "items (no history when the model was trained: a cold start); none: no "
                    "model trained yet")
    model: ModelInfo | None
    rewards: list[RecommendedReward] = Field(
        description="Rewards the member may redeem (points aside), likeliest first")
    categories: list[RecommendedCategory]
    products: list[RecommendedProduct]


class Model(BaseModel):
    """The program's trained model."""

    trained_at: datetime
    history_until: datetime = Field(description="Purchases and redemptions before this "
                                    "time were learnt from")
    program_version: int
    algorithm: str
    parameters: dict[str, object]
    members: int = Field(description="Members with a history")
    items: int = Field(description="Categories, products and rewards")
    interactions: int = Field(description="(member, item) pairs")
