"""The wallet API's payloads: the money balance with its entries, a spend at checkout."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from patron.schemas_common import Key, Money


class WalletEntry(BaseModel):
    id: int
    kind: str = Field(description="cashback, spend, reverse (a return's clawback) or release "
                            "(held cashback became spendable)")
    amount: int = Field(description="Minor units; negative when money left the wallet")
    status: str = Field(description="pending (cashback held through the return window, and "
                                    "a return's clawback of it) or posted")
    occurred_at: datetime
    available_at: datetime | None = Field(None, description="pending cashback: when it "
                                          "becomes spendable")
    order_id: str | None
    reason: str
    details: dict[str, Any]


class Wallet(BaseModel):
    member_id: int
    currency: str
    balance: int = Field(description="Minor units, spendable now")
    pending: int = Field(0, description="Minor units of cashback held until the purchase's "
                         "return window has passed; not spendable")
    entries: list[WalletEntry]
    next_cursor: int | None = None


class WalletSpend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Money = Field(gt=0, description="Minor units to pay with the wallet")
    order_id: Key | None = None
    idempotency_key: Key
