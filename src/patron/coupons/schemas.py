"""Coupon API payloads. Money is integer minor units in the program's currency."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from patron.coupons.domain import AppliesTo, Reason
from patron.program.incentives import RULE_ID, Discount
from patron.schemas_common import Id, Money, Name, Storable

MAX_BATCH = 100_000
MAX_CODES = 20

CodeIn = Annotated[str, StringConstraints(min_length=1, max_length=64), Storable]
OrderId = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                           pattern=r"^[\x21-\x7e]+$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)]
CouponStatus = Literal["active", "used", "expired", "voided"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchCreate(_In):
    coupon_type: str = Field(pattern=RULE_ID, description="A coupon type of the current "
                             "program version")
    count: int = Field(strict=True, ge=1, le=MAX_BATCH, description="Codes to generate")
    name: Name | None = Field(None, description="What the batch is for, e.g. the promotion")


class Batch(BaseModel):
    id: int
    coupon_type: str
    name: str | None
    count: int = Field(description="Codes in the batch")
    program_version: int = Field(description="The version whose coupon type the codes keep")
    created_at: datetime
    expires_at: datetime | None = Field(description="When the codes stop working (none: never)")
    used_codes: int = Field(0, description="Codes with at least one standing redemption")
    redemptions: int = Field(0, description="Standing redemptions of the batch's codes")
    voided_codes: int = 0
    codes_url: str = Field(description="The codes as CSV")


class Coupon(BaseModel):
    """One code: its terms (as issued), owner and where it stands."""

    code: str = Field(description="Printed form; lookups ignore case, dashes and spaces")
    coupon_type: str
    name: str
    discount: Discount
    min_spend: int | None
    combinable: bool
    max_per_order: int = Field(1, description="Codes of this type one order may use")
    member_id: int | None = Field(description="Only this member may use it (none: anyone)")
    batch_id: int | None
    source: str | None = Field(description="What issued it, e.g. a reward redemption")
    status: CouponStatus
    uses: int = Field(description="Standing redemptions")
    uses_per_code: int
    issued_at: datetime
    expires_at: datetime | None
    voided_at: datetime | None = None
    void_reason: str | None = None


IssuedCoupon = Coupon
"""What ``service.issue`` returns to other domains."""


class OrderLine(_In):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]
    category: Annotated[str, StringConstraints(max_length=200), Storable] | None = None
    quantity: int = Field(1, strict=True, ge=1, le=1_000_000)
    amount: Money = Field(description="Line total, minor units")


class OrderIn(_In):
    subtotal: Money = Field(description="Goods total before discounts, minor units")
    shipping: Money = Field(0, description="Shipping charged, minor units (free-shipping "
                            "codes take it off)")
    currency: Currency = Field(description="ISO-4217; must be the program's currency")
    lines: list[OrderLine] | None = Field(None, max_length=1000, description="The order's "
                                          "lines (informational for now: coupon types "
                                          "apply to the whole order)")


class ValidateRequest(_In):
    code: CodeIn | None = Field(None, description="One code, as typed")
    codes: list[CodeIn] | None = Field(None, min_length=1, max_length=MAX_CODES,
                                       description="Several codes, in the order the "
                                       "customer entered them (the first wins a clash)")
    member_id: Id | None = Field(None, description="The buyer, if known; needed for "
                                 "member-bound codes")
    order: OrderIn

    @model_validator(mode="after")
    def _one_way(self) -> ValidateRequest:
        if (self.code is None) == (self.codes is None):
            raise ValueError("give either code or codes")
        return self

    @property
    def entered(self) -> list[str]:
        return [self.code] if self.code is not None else list(self.codes or [])


class CodeVerdict(BaseModel):
    code: str = Field(description="The printed form of a known code, else as sent")
    valid: bool
    reason: Reason | None = Field(description="Why not: unknown_code, duplicate_code, voided, "
                                  "member_required, other_member, used, expired, "
                                  "currency_mismatch, min_spend_not_met, not_combinable, "
                                  "type_limit")
    detail: str | None
    coupon_type: str | None = None
    name: str | None = None
    applies_to: AppliesTo | None = None
    discount: int = Field(0, description="What the code takes off, minor units")
    expires_at: datetime | None = None
    conflicts_with: str | None = Field(None, description="not_combinable: the code it "
                                       "clashes with; type_limit: the order's first code "
                                       "of the same type")


class Validation(BaseModel):
    currency: str
    subtotal: int
    shipping: int
    discount: int = Field(description="Taken off the subtotal by all valid codes")
    shipping_discount: int = Field(description="Taken off shipping")
    total_discount: int
    codes: list[CodeVerdict] = Field(description="One verdict per code, in the order sent")


class RedeemRequest(_In):
    order_id: OrderId = Field(description="The checkout's order id: redeeming again for the "
                              "same order returns the first redemption")
    member_id: Id | None = None
    order: OrderIn


class ReleaseRequest(_In):
    order_id: OrderId


class VoidRequest(_In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), Storable]


class Redemption(BaseModel):
    id: int
    code: str
    coupon_type: str
    order_id: str
    member_id: int | None
    status: Literal["redeemed", "released"]
    applies_to: AppliesTo
    discount: int = Field(description="What the code took off the order, minor units")
    currency: str
    redeemed_at: datetime
    released_at: datetime | None = None
    uses_left: int = Field(description="Redemptions the code still allows")
