"""The member's points over HTTP: balance, ledger, spends and adjustments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from patron.api.deps import Admin, IdempotencyKey, Reader, Writer, problem_responses
from patron.errors import InvalidInput
from patron.flows import statement
from patron.ledger import service
from patron.ledger.schemas import AdjustmentCreate, Balance, LedgerPage, Posted, SpendCreate
from patron.members.standing import refuse_spending_of
from patron.schemas_common import MAX_INT

router = APIRouter(prefix="/members/{member_id}", tags=["ledger"])
MemberId = Annotated[int, Path(ge=1, le=MAX_INT, description="The member's id")]
"""The same path parameter as ``/members/{member_id}`` (the ledger sits below members)."""


@router.get("/balance", response_model=Balance, responses=problem_responses(401, 403, 404))
def get_balance(member_id: MemberId, ctx: Reader) -> Balance:
    """Available, pending and lifetime points, and what expires when.

    For a member of a household that pools points, the numbers are the pool's,
    with ``household_id``, ``household_role``, ``pooled`` and ``can_spend``.
    """
    return ctx.read(lambda conn, program: service.balance(conn, program, member_id))


@router.get("/ledger", response_model=LedgerPage, responses=problem_responses(401, 403, 404))
def get_ledger(member_id: MemberId, ctx: Reader,
               before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> LedgerPage:
    """The member's ledger, newest first, each entry with its reason and source.

    Includes the member's own entries in household pools (what they earned and spent there).
    """
    return ctx.read(lambda conn, program: statement.ledger_page(conn, program, member_id,
                                                                before, limit))


@router.post("/spends", status_code=201, response_model=Posted,
             responses=problem_responses(401, 403, 404, 409, 422))
def spend(member_id: MemberId, payload: SpendCreate, ctx: Writer) -> Posted:
    """Pay with points at checkout, soonest-expiring points first.

    409 ``insufficient_points`` when the available balance is short; 409
    ``member_blocked``, ``member_closed`` or ``member_merged`` when the member may not
    spend. The same
    ``idempotency_key`` returns the first result and spends nothing more. A pooled
    member spends from the household pool; a child of such a household gets 403
    ``household_role_forbidden``.
    """
    return ctx.write(lambda conn, program: service.spend_points(
        conn, program, member_id, points=payload.points, reason=payload.reason,
        key=f"spend:{payload.idempotency_key}", actor=ctx.principal.actor,
        now=ctx.clock.now(), order_id=payload.order_id,
        admit=lambda holding: refuse_spending_of(holding.own)))


@router.post("/adjustments", status_code=201, response_model=Posted,
             responses=problem_responses(401, 403, 404, 409, 422))
def adjust(member_id: MemberId, payload: AdjustmentCreate, ctx: Admin,
           idempotency_key: IdempotencyKey = None) -> Posted:
    """Credit or debit points by hand, with a reason (admin keys only)."""
    key = payload.idempotency_key or idempotency_key
    if key is None:
        raise InvalidInput("an adjustment needs an idempotency_key (or Idempotency-Key header)",
                           field="idempotency_key")
    return ctx.write(lambda conn, program: service.adjust_points(
        conn, program, member_id, points=payload.points, reason=payload.reason,
        key=f"adjust:{key}", actor=ctx.principal.actor, now=ctx.clock.now()))
