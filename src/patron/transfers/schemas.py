from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.schemas_common import Id, Key, Points, Storable

Message = Annotated[str, StringConstraints(min_length=1, max_length=280,
                                            strip_whitespace=True), Storable]


class TransferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_member_id: Id = Field(description="The member who receives the points, in the same "
                             "program")
    points: Points = Field(description="Available points to give, soonest-expiring first")
    idempotency_key: Key = Field(description="Retrying with the same key returns the first "
                                 "transfer and moves nothing more")
    message: Message | None = Field(None, description="A note for the receiver, shown with "
                                    "the transfer and on both ledger entries")


class ReceivedLot(BaseModel):
    lot_id: int = Field(description="The receiver's new lot")
    points: int
    expires_at: datetime | None = Field(description="The expiry the points had with the sender")


class Transfer(BaseModel):
    """Points one member gave another: an entry in each member's ledger."""

    id: int
    direction: Literal["sent", "received"] = Field(
        description="Seen from the member in the path: they sent or received it")
    from_member_id: int
    to_member_id: int
    points: int
    message: str | None = None
    local_day: date = Field(description="The day, in the program's timezone, it counts "
                            "against the sender's daily maximum")
    out_entry_id: int = Field(description="The sender's ledger entry")
    in_entry_id: int = Field(description="The receiver's ledger entry")
    actor: str
    created_at: datetime
    lots: list[ReceivedLot] | None = Field(None, description="Where the points landed, each "
                                           "piece keeping its expiry (single transfers only)")


class TransferPage(BaseModel):
    items: list[Transfer]
    next_cursor: int | None = Field(None, description="Pass as `before` for older transfers")
