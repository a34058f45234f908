from __future__ import annotations

from typing import Annotated, Any, Callable

from fastapi import APIRouter, Path, Response

from patron.api.deps import Context, IdempotencyKey, Reader, Writer, problem_responses
from patron.idempotency.service import run_once
from patron.members.api import MemberId
from patron.memberships import service
from patron.memberships.schemas import (Membership, MembershipCancel, MembershipCreate,
                                        MembershipList, MembershipRenew)
from patron.schemas_common import MAX_INT

router = APIRouter(tags=["memberships"])
MembershipId = Annotated[int, Path(ge=1, le=MAX_INT, description="The membership's id")]


def _once(ctx: Context, key: str | None, operation: str, payload: Any, status: int,
          work: Callable[..., Membership]) -> tuple[int, Membership]:
    """Run a write once per Idempotency-Key: a retry returns the first answer."""
    def transaction(conn, program):
        def run():
            return status, work(conn, program).model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=key, operation=operation,
                        payload=payload, now=ctx.clock.now(), work=run)
    code, body, _ = ctx.write(transaction)
    return code, Membership.model_validate(body)


@router.post("/members/{member_id}/memberships", status_code=201, response_model=Membership,
             responses=problem_responses(401, 403, 404, 409, 422))
def subscribe(member_id: MemberId, payload: MembershipCreate, ctx: Writer, response: Response,
              idempotency_key: IdempotencyKey = None) -> Membership:
    """Subscribe a member to a paid plan of the program document.

    With ``payment`` (taken elsewhere; Patron records it) the membership is
    ``active`` at once and the plan's welcome bonus is credited; without one a
    paid plan waits in ``pending_payment``. A member holds one live membership:
    another subscription meanwhile is 409 ``membership_exists``. An unknown plan
    is 422 ``unknown_plan``. Retrying with the same ``Idempotency-Key`` returns
    the first result.
    """
    status, body = _once(ctx, idempotency_key, f"subscribe:{member_id}",
                         payload.model_dump(mode="json"), 201,
                         lambda conn, program: service.subscribe(
                             conn, program, member_id, payload, actor=ctx.principal.actor,
                             now=ctx.clock.now()))
    response.status_code = status
    return body


@router.get("/members/{member_id}/memberships", response_model=MembershipList,
            responses=problem_responses(401, 403, 404))
def list_memberships(member_id: MemberId, ctx: Reader) -> MembershipList:
    """The member's memberships, current and past, newest first, each with its history."""
    return ctx.read(lambda conn, program: service.list_memberships(conn, program, member_id,
                                                                   ctx.clock.now()))


@router.get("/memberships/{membership_id}", response_model=Membership,
            responses=problem_responses(401, 403, 404))
def get_membership(membership_id: MembershipId, ctx: Reader) -> Membership:
    """One membership with every transition it went through."""
    return ctx.read(lambda conn, program: service.get_membership(conn, program, membership_id,
                                                                 ctx.clock.now()))


@router.post("/memberships/{membership_id}/renew", response_model=Membership,
             responses=problem_responses(401, 403, 404, 409, 422))
def renew(membership_id: MembershipId, payload: MembershipRenew, ctx: Writer,
          idempotency_key: IdempotencyKey = None) -> Membership:
    """Record a period's payment: extends the paid time by the plan's period.

    Also activates a ``pending_payment`` membership, brings a ``past_due`` one
    back to ``active`` and withdraws a cancellation. The same payment
    ``reference`` again changes nothing. 409 ``membership_ended`` once it has
    lapsed or ended (subscribe again); 422 ``payment_too_small`` below the
    plan's price.
    """
    _, body = _once(ctx, idempotency_key, f"renew:{membership_id}",
                    payload.model_dump(mode="json"), 200,
                    lambda conn, program: service.renew(
                        conn, program, membership_id, payload.payment,
                        actor=ctx.principal.actor, now=ctx.clock.now()))
    return body


@router.post("/memberships/{membership_id}/cancel", response_model=Membership,
             responses=problem_responses(401, 403, 404, 409, 422))
def cancel(membership_id: MembershipId, ctx: Writer, payload: MembershipCancel | None = None,
           idempotency_key: IdempotencyKey = None) -> Membership:
    """Cancel: the benefits last until the end of the paid period, then it ends.

    A membership not paid for (``pending_payment``, ``past_due``) ends at once.
    409 ``membership_already_cancelled`` or ``membership_not_active``.
    """
    reason = payload.reason if payload else None
    _, body = _once(ctx, idempotency_key, f"cancel:{membership_id}", {"reason": reason}, 200,
                    lambda conn, program: service.cancel(
                        conn, program, membership_id, reason, actor=ctx.principal.actor,
                        now=ctx.clock.now()))
    return body
