from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.schemas_common import Key, Name, Points, SignedPoints, Storable

OrderId = Annotated[str, StringConstraints(min_length=1, max_length=200), Storable]


class Expiring(BaseModel):
    points: int
    expires_at: datetime


class Balance(BaseModel):
    """The points a member earns into and spends from.

    For a member of a household whose points are pooled (``pooled`` true) the
    numbers are the household pool's, shared by every member of the household.
    """

    member_id: int
    available: int = Field(description="Spendable now; below 0 when points already spent "
                           "were taken back by a return and the program allows it")
    pending: int = Field(description="Earned, still inside the return window")
    lifetime_earned: int
    expiring: list[Expiring] = Field(description="Available points by expiry, soonest first")
    household_id: int | None = Field(None, description="The household the member belongs to")
    household_role: str | None = Field(None, description="owner, adult or child")
    pooled: bool = Field(False, description="The numbers above are the household's pool")
    can_spend: bool = Field(True, description="False for a child of a pooled household: "
                            "they earn into the pool but cannot spend from it")


class EntrySource(BaseModel):
    type: str = Field(description="event, request or job")
    id: str | None = Field(None, description="The event id or idempotency key")
    event_type: str | None = None


class LedgerEntry(BaseModel):
    id: int
    member_id: int | None = Field(None, description="The member the entry is for: in a "
                                  "household pool, who earned or spent")
    kind: str = Field(description="earn, spend, release, expire, adjust, reverse, settle, "
                      "transfer (points moving into or out of a household pool, or given "
                      "by one member to another)")
    points: int = Field(description="Signed: positive adds, negative takes")
    status: str = Field(description="pending (inside the return window) or posted")
    occurred_at: datetime
    recorded_at: datetime
    available_at: datetime | None = None
    order_id: str | None = None
    reason: str = Field(description="Why this entry exists, in words a member can read")
    actor: str
    source: EntrySource
    details: dict[str, Any] = Field(default_factory=dict)


class LedgerPage(BaseModel):
    items: list[LedgerEntry]
    next_cursor: int | None = Field(None, description="Pass as `before` for older entries")


class SpendCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: Points
    reason: Name
    idempotency_key: Key = Field(description="Retries with the same key return the first result")
    order_id: OrderId | None = None


class AdjustmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    points: SignedPoints = Field(description="Positive credits a new lot; negative debits")
    reason: Name
    idempotency_key: Key | None = Field(
        None, description="Optional; the Idempotency-Key header works too")


class LotMove(BaseModel):
    lot_id: int
    points: int


class Posted(BaseModel):
    """The entry a spend or adjustment wrote, and the balance after it."""

    entry: LedgerEntry
    lots: list[LotMove]
    balance: Balance
