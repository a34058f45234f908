"""Event payloads: what a channel sends and what ingest answers.

The built-in event type names and the fields a condition may read are the
program document's (``patron.program.catalog``); the payload models a type's
``data`` must fit are here, and ``patron.flows.event_types`` says which is which.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from patron.members.schemas import IdentityIn
from patron.schemas_common import (MAX_MONEY, Channel, Code, FreeJSON, Id, Instant, Key, Money,
                                   Storable)

class MemberRef(BaseModel):
    """Who the event is about: a member id, or an identity Patron resolves."""

    model_config = ConfigDict(extra="forbid")

    id: Id | None = None
    identity: IdentityIn | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "MemberRef":
        if (self.id is None) == (self.identity is None):
            raise ValueError("give exactly one of member.id or member.identity")
        return self


ProductLevel = Annotated[str, StringConstraints(max_length=200), Storable]
CouponCode = Annotated[str, StringConstraints(min_length=1, max_length=255), Storable]


class PurchaseLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
    department: ProductLevel | None = Field(None, description="Top of the product hierarchy")
    category: ProductLevel | None = Field(None, description="Within the department")
    subcategory: ProductLevel | None = Field(None, description="Within the category")
    brand: ProductLevel | None = None
    quantity: int = Field(1, strict=True, ge=1, le=1_000_000)
    amount: Money = Field(description="Line total in minor units (cents): what the member "
                                      "paid for the line, after its discount")
    discount: Money | None = Field(None, description="Discount taken off this line, minor "
                                   "units (already out of amount)")


class PurchaseData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    total: Money = Field(description="Order total in minor units; what points are earned on")
    store_id: Annotated[str, StringConstraints(min_length=1, max_length=100),
                            Storable] | None = Field(
        None, description="The store (or site) the order was taken at")
    discount: Money | None = Field(None, description="Order-level discount, minor units "
                                   "(already out of total; line discounts are on the lines)")
    coupon_value: Money | None = Field(None, description="Value of the coupons applied to "
                                       "the order, minor units")
    coupon_codes: list[CouponCode] | None = Field(None, max_length=100, description="The "
                                                  "codes applied to the order (a condition "
                                                  "may read them: "
                                                  "'\"SPRING\" in event.data.coupon_codes')")
    lines: list[PurchaseLine] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _lines_fit_total(self) -> "PurchaseData":
        if self.lines and sum(line.amount for line in self.lines) < self.total:
            raise ValueError("total is more than the sum of the lines")
        return self


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Key = Field(description="Idempotency key, unique per program")
    type: Code = Field(description="purchase, sign_up, review, check_in, … or a custom type")
    member: MemberRef
    occurred_at: Instant = Field(description="When it happened, with a timezone offset; "
                                 "from 1970-01-01T00:00:00Z, and not in the future")
    channel: Channel | None = Field(None, description="web, pos, app, dealer, …")
    data: FreeJSON = Field(default_factory=dict)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=1000)


class ReturnedLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line_index: int | None = Field(None, ge=0, le=10_000, description="Position in the order")
    sku: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable] | None = None
    quantity: int | None = Field(None, strict=True, ge=1, le=1_000_000,
                                 description="Default: all that is left of the line")

    @model_validator(mode="after")
    def _names_a_line(self) -> "ReturnedLine":
        if self.line_index is None and self.sku is None:
            raise ValueError("give line_index or sku")
        return self


class ReturnData(BaseModel):
    """A ``return`` event: the order and the lines going back (default: all of it), or
    the money refunded when the lines are not known."""

    model_config = ConfigDict(extra="forbid")

    order_id: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
    lines: list[ReturnedLine] = Field(default_factory=list, max_length=500)
    amount: Annotated[int, Field(strict=True, ge=1, le=MAX_MONEY)] | None = Field(
        None, description="Money refunded, in minor units of the order's currency, when the "
        "refund does not say which lines it was for: points are taken back pro rata to it "
        "(refunds add up, never past the order's total). Give lines or amount, not both")
    reason: Annotated[str, StringConstraints(max_length=500), Storable] | None = None

    @model_validator(mode="after")
    def _lines_or_amount(self) -> "ReturnData":
        if self.lines and self.amount is not None:
            raise ValueError("give lines or amount, not both")
        return self


class PaymentData(BaseModel):
    """A ``membership_payment`` event: a renewal paid at a till or online."""

    model_config = ConfigDict(extra="forbid")

    reference: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable] = Field(
        description="The payment's own id; a payment is recorded once")
    amount: Money = Field(description="Minor units")
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    plan_id: Annotated[str, StringConstraints(max_length=64), Storable] | None = None


class Award(BaseModel):
    """Points an event put somewhere (or took back), and why."""

    member_id: int
    kind: str = Field(description="earn; cashback (money for the wallet); reverse for a "
                                  "return's clawback; badge, challenge or streak for the "
                                  "points a badge, a completed challenge or a streak's "
                                  "milestone gave (rule_id is its id)")
    points: int = Field(description="Points that actually moved (negative when taken back)")
    amount: int | None = Field(None, description="cashback: money that actually moved, minor "
                               "units")
    forgiven: int | None = Field(None, description="reverse: what the return did not take "
                                 "back because it was already spent and the program forgives "
                                 "it (points, or minor units for cashback)")
    status: str = Field(description="pending or posted")
    available_at: datetime | None = None
    expires_at: datetime | None = None
    reason: str
    rule_id: str | None = None
    program_version: int | None = None


class Note(BaseModel):
    """A rule that matched but gave nothing, and why (limit_reached, budget_exhausted,
    out_of_stock for a gift none is left of, …); on a return, gift_already_sent."""

    rule_id: str
    code: str
    message: str


class GiftOutcome(BaseModel):
    """A catalog gift an earn rule gave with the event, or a return cancelled."""

    rule_id: str
    reward_id: str
    reward_name: str
    status: Literal["granted", "cancelled"] = Field(
        description="granted: given with this event; cancelled: this return took the order "
                    "below what the rule needed")
    reason: str = Field(description="The rule's explanation, or why it was cancelled")
    program_version: int


class Progress(BaseModel):
    """A badge, challenge or streak the event moved, as the member reads it."""

    kind: Literal["badge", "challenge", "streak"]
    id: str = Field(description="Its id in the program document")
    name: str
    status: str = Field(description="badge: earned; challenge: progress or completed; "
                        "streak: started, continued, restarted or milestone; any of them: "
                        "taken_back (a return took back what its order gave)")
    value: int | None = Field(None, description="challenge: the count, distinct values or "
                              "sum so far; streak: its length in periods")
    target: int | None = Field(None, description="challenge: what completes it")
    text: str = Field(description='What the member reads: "May visits: 2 of 3 visits '
                      'this month"')


class TierMove(BaseModel):
    """A tier change the event caused (an upgrade, or a return's immediate downgrade)."""

    from_tier: str | None
    to_tier: str
    kind: str
    reason: str


class EventOutcome(BaseModel):
    id: str
    status: Literal["processed", "duplicate", "rejected"]
    type: str | None = None
    member_id: int | None = None
    enrolled: bool = False
    points: int = 0
    program_version: int | None = None
    awards: list[Award] = Field(default_factory=list)
    gifts: list[GiftOutcome] = Field(default_factory=list, description="Catalog gifts earn "
                                     "rules gave (GET /members/{id}/gifts lists them), or "
                                     "a return cancelled")
    notes: list[Note] = Field(default_factory=list)
    progress: list[Progress] = Field(default_factory=list, description="Badges earned, "
                                     "challenges and streaks the event moved")
    tier: TierMove | None = None
    membership: dict[str, Any] | None = Field(None, description="membership_payment: the "
                                              "membership it paid, after the payment")
    error: dict[str, Any] | None = Field(None, description="Problem details when rejected")


class BatchOutcome(BaseModel):
    processed: int
    duplicates: int
    rejected: int
    results: list[EventOutcome]
