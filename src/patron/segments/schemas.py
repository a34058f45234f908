"""API payloads of tags, member features and segments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from patron.schemas_common import MAX_INT

SEGMENT_KEY = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MAX_CONDITION = 4000
MAX_UPLOAD = 100_000
MemberIdIn = Annotated[int, Field(ge=1, le=MAX_INT)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberTag(BaseModel):
    tag: str
    source: Literal["manual", "rule"] = Field(
        description="manual: added by hand (API, CLI, import); rule: by a program tags rule")
    added_by: str
    added_at: datetime


class MemberTags(BaseModel):
    member_id: int
    tags: list[MemberTag]


class MemberFeatures(BaseModel):
    """What the features job last computed for the member (``member.features`` in CEL)."""

    member_id: int
    computed_at: datetime
    joined_on: date | None
    last_purchase_on: date | None
    recency_days: int | None
    days_since_last_purchase: int | None
    frequency: int = Field(description="Orders")
    monetary: int = Field(description="What the member paid for them, minor units")
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_segment: str | None
    churn_probability: float | None = Field(description="1 - P(alive), BG/NBD")
    expected_purchases: float | None = Field(description="Purchases expected in 90 days")
    expected_value: int | None = Field(description="Spend expected in 90 days, minor units")
    tier: str | None
    age_band: str | None
    region: str | None
    join_channel: str | None
    favourite_category: str | None
    favourite_channel: str | None
    points_balance: int = Field(description="Spendable points (pending excluded)")
    expiring_points: int = Field(description="Available points expiring within 30 days")
    referral_count: int
    tags: list[str]


class SegmentCreate(_In):
    key: str = Field(pattern=SEGMENT_KEY, description="Stable key, e.g. 'at-risk-vips'")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    kind: Literal["dynamic", "static"] = "dynamic"
    condition: str | None = Field(
        None, max_length=MAX_CONDITION,
        description="Dynamic segments: CEL over member.features and member.tags, e.g. "
                    "'member.features.churn_probability > 0.7 && \"vip\" in member.tags'")


class SegmentUpdate(_In):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    condition: str | None = Field(None, max_length=MAX_CONDITION)
    active: bool | None = None


class Segment(BaseModel):
    key: str
    name: str
    description: str | None
    kind: str
    condition: str | None
    active: bool
    members: int = Field(description="Members in it now")
    created_by: str
    created_at: datetime
    updated_at: datetime
    refreshed_at: datetime | None


class SegmentList(BaseModel):
    items: list[Segment]


class PreviewIn(_In):
    condition: str = Field(max_length=MAX_CONDITION)


class Preview(BaseModel):
    members: int
    sample: list[int] = Field(description="The first 20 matching member ids")
    evaluated_at: datetime


class Refreshed(BaseModel):
    key: str
    members: int
    entered: int
    left: int
    refreshed_at: datetime


class RefreshedAll(BaseModel):
    items: list[Refreshed]


class SegmentMember(BaseModel):
    member_id: int
    entered_at: datetime


class SegmentMembers(BaseModel):
    items: list[SegmentMember]
    next_after: int | None = Field(description="Pass as ?after= for the next page")


class SegmentCount(BaseModel):
    counted_at: datetime
    members: int
    entered: int
    left: int


class SegmentHistory(BaseModel):
    key: str
    items: list[SegmentCount]


class StaticMembersIn(_In):
    member_ids: list[MemberIdIn] = Field(default_factory=list, max_length=MAX_UPLOAD)
    identities: list[str] = Field(default_factory=list, max_length=MAX_UPLOAD,
                                  description="TYPE:VALUE, e.g. email:ann@example.com")


class MemberSegment(BaseModel):
    key: str
    name: str
    kind: str
    entered_at: datetime


class MemberSegments(BaseModel):
    member_id: int
    items: list[MemberSegment]
