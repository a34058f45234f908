from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.memberships.domain import MembershipState, TransitionEvent
from patron.schemas_common import Money, Name

PlanId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
PaymentReference = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                                    pattern=r"^[\x21-\x7e]+$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: PaymentReference = Field(
        description="The payment's id at the shop or payment provider. Recorded once per "
                    "program: sending it again changes nothing")
    amount: Money = Field(description="Minor units (cents); at least the plan's price")
    currency: Currency | None = Field(None, description="ISO-4217; the program's currency "
                                      "when left out")


class MembershipCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: PlanId = Field(description="A plan of the program document's `memberships`")
    payment: PaymentIn | None = Field(
        None, description="The first period's payment, taken elsewhere. Without one a paid "
                          "plan waits in `pending_payment` (for the plan's grace_days)")


class MembershipRenew(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment: PaymentIn


class MembershipCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Name | None = Field(None, description="Why the member leaves, for the record")


class MembershipTransition(BaseModel):
    event: TransitionEvent = Field(description="subscribed, activated, renewed, cancelled, "
                                   "fell_past_due, lapsed or ended")
    from_state: MembershipState | None = Field(description="null for the subscription")
    to_state: MembershipState
    at: datetime = Field(description="When it took effect (a sweep that ran late still "
                         "records the moment the period ended)")
    reason: str
    actor: str
    payment_reference: str | None = None
    payment_amount: int | None = None
    recorded_at: datetime


class Membership(BaseModel):
    id: int
    member_id: int
    plan_id: str
    state: MembershipState = Field(description="pending_payment, active, cancelled (active "
                                   "until paid_until), past_due (in grace), lapsed or ended")
    benefits_active: bool = Field(description="Whether the plan's benefits apply now")
    price: int = Field(description="Per period, minor units, as last paid")
    currency: str
    period_months: int
    grace_days: int
    created_at: datetime
    started_at: datetime | None = Field(None, description="First activation")
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    paid_until: datetime | None = None
    grace_until: datetime | None = Field(None, description="past_due only: when it lapses "
                                         "unless paid")
    cancelled_at: datetime | None = None
    lapsed_at: datetime | None = None
    ended_at: datetime | None = None
    transitions: list[MembershipTransition] = Field(description="Oldest first")


class MembershipList(BaseModel):
    items: list[Membership] = Field(description="Newest first")
