"""Payloads of segments built from recommendations (``flows.likely_segments``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from patron.segments.schemas import SEGMENT_KEY

MAX_TOP = 100_000


class LikelySegmentIn(BaseModel):
    """A static segment of the members likeliest to buy a category or product, or to
    redeem a reward; each training fills it again."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(pattern=SEGMENT_KEY, description="The segment's key")
    name: str | None = Field(None, min_length=1, max_length=200,
                             description='Default: "Likely to buy coffee" and the like')
    category: str | None = Field(None, min_length=1, max_length=200)
    product: str | None = Field(None, min_length=1, max_length=200, description="A SKU")
    reward: str | None = Field(None, min_length=1, max_length=64, description="A reward id")
    top: int = Field(1000, ge=1, le=MAX_TOP, description="At most this many members")

    @model_validator(mode="after")
    def _one_item(self) -> LikelySegmentIn:
        named = [k for k in ("category", "product", "reward") if getattr(self, k) is not None]
        if len(named) != 1:
            raise ValueError("name exactly one of category, product or reward")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("category", "product", "reward") if getattr(self, k))

    @property
    def item(self) -> str:
        return getattr(self, self.kind)


class LikelySegment(BaseModel):
    key: str
    kind: Literal["category", "product", "reward"]
    item: str
    top: int
    members: int
    entered: int
    left: int
