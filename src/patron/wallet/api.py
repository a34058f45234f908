from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from patron.api.deps import Reader, Writer, problem_responses
from patron.members.api import MemberId
from patron.schemas_common import MAX_INT, Key, Money
from patron.wallet import service

router = APIRouter(prefix="/members/{member_id}/wallet", tags=["wallet"])


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


@router.get("", response_model=Wallet, responses=problem_responses(401, 403, 404))
def get_wallet(member_id: MemberId, ctx: Reader,
               before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Wallet:
    """The member's money balance (cashback) and its entries, newest first."""
    return Wallet(**ctx.read(lambda conn, program: service.wallet(
        conn, program, member_id, limit=limit, before=before)))


@router.post("/spends", status_code=201, response_model=Wallet,
             responses=problem_responses(401, 403, 404, 409, 422))
def spend(member_id: MemberId, payload: WalletSpend, ctx: Writer) -> Wallet:
    """Pay at checkout with the wallet. 409 ``insufficient_funds`` when it holds less;
    the same ``idempotency_key`` returns the first spend and takes nothing more."""
    now = ctx.clock.now()
    return Wallet(**ctx.write(lambda conn, program: service.spend(
        conn, program, member_id, amount=payload.amount, order_id=payload.order_id,
        key=payload.idempotency_key, actor=ctx.principal.actor, now=now)))
