"""The burn side of the program document: coupon types and the rewards catalog.

A *coupon type* is a promotion's discount and its checkout rules (minimum spend,
whether it combines with other codes); codes are issued for it in batches or by
redemptions. A *reward* is what a member can get for points: a coupon, a gift, an
experience, cashback into their wallet, or a donation to a cause.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from patron.schemas_common import Validity

RULE_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
CODE_PREFIX = r"^[A-Z0-9]{0,12}-?$"
Period = Literal["day", "week", "month", "year", "lifetime"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Discount(_Model):
    percent: Decimal | None = Field(None, gt=0, le=100, description="Percent off the order")
    amount: int | None = Field(None, gt=0, description="Money off, minor units")
    free_shipping: bool = False
    max_amount: int | None = Field(None, gt=0, description="Cap of a percent discount")

    @model_validator(mode="after")
    def _exactly_one(self) -> Discount:
        given = [self.percent is not None, self.amount is not None, self.free_shipping]
        if sum(given) != 1:
            raise ValueError("give exactly one of percent, amount, free_shipping")
        if self.max_amount is not None and self.percent is None:
            raise ValueError("max_amount only caps a percent discount")
        return self


class CouponType(_Model):
    id: str = Field(pattern=RULE_ID)
    name: str = Field(min_length=1, max_length=120)
    discount: Discount
    min_spend: int | None = Field(None, gt=0, description="Order subtotal the code needs")
    combinable: bool = Field(False, description="May be used with other combinable codes in "
                             "one order; a non-combinable code must be the only one")
    prefix: str = Field("", pattern=CODE_PREFIX, description="Printed before the random part")
    length: int = Field(10, ge=8, le=24, description="Random characters (unambiguous alphabet)")
    valid_days: int | None = Field(None, ge=1, le=3650, description="A code expires this many "
                                   "days after it is issued")
    valid_until: Validity | None = None
    uses_per_code: int = Field(1, ge=1, le=1_000_000)
    max_per_order: int = Field(1, ge=1, le=20, description="Codes of this type one order may "
                               "use together (each a different code); by default one, so two "
                               "codes of a 15 % type never take 30 %")


class Eligibility(_Model):
    tiers: list[str] | None = Field(None, description="Only these tier ids")
    plans: list[str] | None = Field(None, description="Only members with one of these paid plans")
    when: str | None = Field(None, description="CEL condition over member")


class RewardLimit(_Model):
    period: Period = "lifetime"
    count: int = Field(ge=1)


class Reward(_Model):
    id: str = Field(pattern=RULE_ID)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    type: Literal["coupon", "gift", "cashback", "experience", "donation"]
    cost_points: int = Field(gt=0, le=100_000_000)
    coupon_type: str | None = Field(None, description="coupon: the coupon type it issues")
    cashback: int | None = Field(None, gt=0, description="cashback: money into the wallet, "
                                 "minor units")
    cause: str | None = Field(None, max_length=200, description="donation: the cause")
    stock: int | None = Field(None, ge=0, description="Units (places for an experience); "
                              "none: unlimited")
    limit_per_member: RewardLimit | None = None
    eligibility: Eligibility = Field(default_factory=Eligibility)
    valid_from: Validity | None = None
    valid_until: Validity | None = None

    @model_validator(mode="after")
    def _type_fields(self) -> Reward:
        needs = {"coupon": "coupon_type", "cashback": "cashback", "donation": "cause"}
        for kind, name in needs.items():
            if (self.type == kind) != (getattr(self, name) is not None):
                raise ValueError(f"{name} is required for {kind} rewards, and only for them")
        return self


class ReferralCap(_Model):
    period: Period = "month"
    count: int = Field(ge=1, le=100_000)


class Referrals(_Model):
    """Member-get-member: who may refer, when a referral pays, and the abuse guards.

    A referral pays (two ``referral`` events, ``data.role`` "referrer" and
    "referee", which earn rules reward) once the referred member's first
    qualifying purchase is past ``return_window_days`` and was not fully returned.
    """

    link: str = Field("https://example.com/join?ref={code}", max_length=300,
                      description="Shareable link; {code} is replaced by the member's code")
    min_spend: int = Field(0, ge=0, description="A qualifying first purchase spends at least "
                           "this (minor units)")
    return_window_days: int = Field(14, ge=0, le=365, description="The referral pays when the "
                                    "qualifying purchase is this old and not fully returned")
    new_member_days: int = Field(30, ge=0, le=3650, description="A referred member joined at "
                                 "most this many days before the code was used, and has not "
                                 "bought anything yet")
    cap: ReferralCap | None = Field(None, description="Most referrals per referrer per period")

    @model_validator(mode="after")
    def _link_has_code(self) -> Referrals:
        if "{code}" not in self.link:
            raise ValueError("the link must contain {code}")
        return self
