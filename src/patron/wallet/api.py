"""The wallet endpoints: a member's money balance, and paying with it at checkout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from patron.api.deps import Reader, Writer, problem_responses
from patron.members.api import MemberId
from patron.schemas_common import MAX_INT
from patron.wallet import service
from patron.wallet.schemas import Wallet, WalletSpend

router = APIRouter(prefix="/members/{member_id}/wallet", tags=["wallet"])


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
