"""Rewards API payloads: the member's catalog, redemptions, gifts with purchase, donation
totals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.ledger.schemas import LotMove
from patron.schemas_common import Key, Name

RewardId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Reason = Literal["not_yet_available", "expired", "tier_required", "plan_required",
                 "condition_not_met", "limit_reached", "out_of_stock", "insufficient_points"]


class MemberLimit(BaseModel):
    period: str = Field(description="day, week, month, year (calendar, program timezone) "
                        "or lifetime")
    count: int = Field(description="Redemptions allowed per period")
    used: int = Field(description="The member's standing redemptions in the current period")


class RewardOffer(BaseModel):
    """One reward as one member sees it today."""

    id: str
    name: str
    description: str | None = None
    type: str = Field(description="coupon, gift, cashback, experience or donation")
    cost_points: int
    coupon_type: str | None = None
    cashback: int | None = Field(None, description="cashback: minor units into the wallet")
    currency: str | None = Field(None, description="cashback: the program's currency")
    cause: str | None = None
    stock_remaining: int | None = Field(None, description="Units (places) left; null: "
                                        "unlimited")
    limit_per_member: MemberLimit | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = Field(None, description="First instant it is no longer "
                                         "offered")
    eligible: bool = Field(description="The member may redeem it, points aside")
    affordable: bool = Field(description="The member's available points cover the cost")
    points_needed: int = Field(description="Points still missing (0 when affordable)")
    reason: Reason | None = Field(None, description="Why it cannot be redeemed now, the most "
                                  "fundamental reason first; null when it can")
    reasons: list[Reason] = Field(default_factory=list, description="Every reason, in order")


class RewardCatalog(BaseModel):
    member_id: int
    available_points: int = Field(description="What the member can spend now (their "
                                  "household's pool when pooled)")
    program_version: int
    items: list[RewardOffer]


class RedemptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reward_id: RewardId
    idempotency_key: Key | None = Field(
        None, description="Retrying with the same key returns the first redemption and "
        "spends nothing more; the Idempotency-Key header works too")


class RedemptionCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Name | None = Field(None, description="Why, for the member's history")


class Redemption(BaseModel):
    """A reward redeemed for points, what it produced, and its cancellation."""

    id: int
    member_id: int
    reward_id: str
    reward_name: str
    reward_type: str
    cost_points: int
    status: Literal["active", "cancelled"]
    fulfilment: str = Field(description="coupon_issued, pending_fulfilment (a gift to send), "
                            "booked (an experience's place), cashback_credited (in the "
                            "wallet), cashback_recorded (no wallet in this installation), "
                            "donated; cancelled once cancelled")
    program_version: int = Field(description="The program version it was redeemed under")
    coupon_code: str | None = None
    coupon_expires_at: datetime | None = None
    cashback_amount: int | None = Field(None, description="Minor units")
    currency: str | None = None
    wallet_entry_id: int | None = None
    cause: str | None = None
    entry_id: int = Field(description="The ledger entry that paid for it")
    lots: list[LotMove] | None = Field(None, description="Lots the points came from, soonest-"
                                       "expiring first (single redemptions only)")
    created_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    refund_entry_id: int | None = Field(None, description="The ledger entry that gave the "
                                        "points back")


class RedemptionPage(BaseModel):
    items: list[Redemption]
    next_cursor: int | None = Field(None, description="Pass as `before` for older ones")


class CauseTotal(BaseModel):
    cause: str
    donations: int
    members: int
    points: int


class DonationTotals(BaseModel):
    """Standing (not cancelled) donation redemptions, per cause."""

    causes: list[CauseTotal]
    donations: int
    points: int


class Gift(BaseModel):
    """A catalog gift an earn rule gave, free, with an event (usually a purchase)."""

    id: int
    member_id: int
    reward_id: str
    reward_name: str = Field(description="The gift's name when it was given")
    rule_id: str = Field(description="The earn rule that gave it")
    rule_name: str
    program_version: int = Field(description="The program version the event was evaluated by")
    event_id: str = Field(description="The event that gave it, as it was sent")
    order_id: str | None = Field(None, description="The purchase's order id")
    status: Literal["granted", "cancelled"] = Field(
        description="cancelled: a return took the order below what the rule needed")
    fulfilment: str = Field(description="pending_fulfilment (to send), sent, delivered; "
                            "cancelled once cancelled before it was sent (a gift already "
                            "sent keeps saying where it went)")
    explanation: str = Field(description="Why the member got it, as the rule explains it")
    created_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None


class GiftPage(BaseModel):
    items: list[Gift]
    next_cursor: int | None = Field(None, description="Pass as `before` for older ones")


class RedemptionFulfilmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["sent", "delivered", "attended"] = Field(
        description="Where the redeemed product is now: a gift moves on from "
                    "pending_fulfilment to sent and delivered, an experience from booked to "
                    "attended; never back")


class GiftFulfilmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["sent", "delivered"] = Field(
        description="Where the gift is now; it moves on (pending_fulfilment, sent, "
                    "delivered), never back")
