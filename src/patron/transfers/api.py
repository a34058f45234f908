from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from patron.api.deps import Reader, Writer, problem_responses
from patron.members.api import MemberId
from patron.schemas_common import MAX_INT
from patron.transfers import service
from patron.transfers.schemas import Transfer, TransferCreate, TransferPage

router = APIRouter(prefix="/members/{member_id}", tags=["transfers"])


@router.post("/transfers", status_code=201, response_model=Transfer,
             responses=problem_responses(401, 403, 404, 409, 422))
def send_points(member_id: MemberId, payload: TransferCreate, ctx: Writer,
                response: Response) -> Transfer:
    """Give some of the member's available points to another member of the program.

    Points leave soonest-expiring first and keep their expiry with the receiver;
    pending points cannot be given. Both ledgers show the transfer. The program
    document's ``transfers`` section must enable it and sets its limits. Refusals:
    409 ``transfers_disabled``, ``transfer_below_minimum``, ``transfer_above_maximum``,
    ``transfer_daily_limit`` (with ``remaining_points`` for the day),
    ``insufficient_points``, ``sender_not_active``, ``receiver_not_active``,
    ``same_household``; 403
    ``household_role_forbidden`` for a child spending a household pool; 404 for an
    unknown member; 422 ``self_transfer``. The same ``idempotency_key`` returns the
    first transfer (200) and moves nothing more.
    """
    now = ctx.clock.now()
    transfer, created = ctx.write(lambda conn, program: service.transfer(
        conn, program, member_id, payload, actor=ctx.principal.actor, now=now))
    response.status_code = 201 if created else 200
    return transfer


@router.get("/transfers", response_model=TransferPage,
            responses=problem_responses(401, 403, 404))
def member_transfers(member_id: MemberId, ctx: Reader,
                     before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> TransferPage:
    """The transfers the member sent and received, newest first."""
    return ctx.read(lambda conn, program: service.member_transfers(
        conn, program, member_id, before, limit))
