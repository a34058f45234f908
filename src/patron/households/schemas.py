from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from patron.ledger.schemas import Expiring, OrderId
from patron.schemas_common import Id, Key, Name, Points

MemberRole = Literal["adult", "child"]


class HouseholdCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="What the family calls itself, e.g. \"The Smiths\"")
    owner_member_id: Id = Field(description="The member who owns and administers the "
                                "household; they join it as its owner")


class HouseholdMemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: Id
    role: MemberRole = Field(description="adult: earns and spends the pooled points; "
                             "child: earns into the pool, cannot spend from it")


class HouseholdMemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: MemberRole


class OwnerChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: Id = Field(description="An adult member of the household; the current owner "
                          "becomes an adult")


class HouseholdSpendCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: Id = Field(description="The owner or adult who spends; recorded on the entry")
    points: Points
    reason: Name
    idempotency_key: Key = Field(description="Retries with the same key return the first result")
    order_id: OrderId | None = None


class HouseholdMember(BaseModel):
    member_id: int
    role: str = Field(description="owner, adult or child")
    joined_at: datetime


class MembershipPeriod(BaseModel):
    member_id: int
    role: str
    joined_at: datetime
    left_at: datetime | None = None
    end_reason: str | None = Field(None, description="left, role_changed or dissolved")


class Household(BaseModel):
    id: int
    name: str
    status: str = Field(description="active or dissolved")
    owner_member_id: int | None = Field(None, description="None once dissolved")
    account_member_id: int = Field(description="The member row that holds the household's "
                                   "pool account (status household); not a person")
    pooled_points: bool = Field(description="Whether the program pools members' points now")
    max_members: int
    leaving_member_points: str = Field(description="stay or leave_with_member")
    members: list[HouseholdMember]
    history: list[MembershipPeriod] = Field(description="Every stretch a member spent in the "
                                            "household with one role, oldest first")
    created_at: datetime
    dissolved_at: datetime | None = None


class HouseholdBalance(BaseModel):
    household_id: int
    pooled_points: bool
    available: int = Field(description="Spendable now by the owner and adults")
    pending: int = Field(description="Earned by members, still inside the return window")
    lifetime_earned: int = Field(description="Earned into the pool (points brought in by "
                                 "joining members are not counted)")
    expiring: list[Expiring]
