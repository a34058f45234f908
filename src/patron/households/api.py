from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy import Connection

from patron.api.deps import Context, IdempotencyKey, Reader, Writer, problem_responses
from patron.flows import statement
from patron.households import service
from patron.households.schemas import (Household, HouseholdBalance, HouseholdCreate,
                                       HouseholdMemberAdd, HouseholdMemberUpdate,
                                       HouseholdSpendCreate, OwnerChange)
from patron.idempotency.service import run_once
from patron.ledger.schemas import LedgerPage, Posted
from patron.members.api import MemberId
from patron.program.service import Program
from patron.schemas_common import MAX_INT

router = APIRouter(prefix="/households", tags=["households"])
HouseholdId = Annotated[int, Path(ge=1, le=MAX_INT, description="The household's id")]


def _once(ctx: Context, key: str | None, operation: str, payload: dict[str, Any],
          status: int, change: Callable[[Connection, Program], BaseModel]
          ) -> tuple[int, dict[str, Any]]:
    """Run a change once per Idempotency-Key: a retry returns the first answer."""
    def work(conn: Connection, program: Program) -> tuple[int, Any, bool]:
        def run() -> tuple[int, Any]:
            return status, change(conn, program).model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=key, operation=operation,
                        payload=payload, now=ctx.clock.now(), work=run)
    code, body, _ = ctx.write(work)
    return code, body


@router.post("", status_code=201, response_model=Household,
             responses=problem_responses(401, 403, 404, 409, 422))
def create_household(payload: HouseholdCreate, ctx: Writer, response: Response,
                     idempotency_key: IdempotencyKey = None) -> Household:
    """Create a household owned by an existing member, with its own points pool.

    409 ``already_in_household`` when the owner already belongs to one. When the
    program pools points, the owner's points move into the pool (see the
    household rules in the program document).
    """
    status, body = _once(ctx, idempotency_key, "create_household",
                         payload.model_dump(mode="json"), 201,
                         lambda conn, program: service.create_household(
                             conn, program, payload, now=ctx.clock.now(),
                             actor=ctx.principal.actor))
    response.status_code = status
    return Household.model_validate(body)


@router.get("/{household_id}", response_model=Household,
            responses=problem_responses(401, 403, 404))
def get_household(household_id: HouseholdId, ctx: Reader) -> Household:
    """The household, its members with their roles, and every membership change."""
    return ctx.read(lambda conn, program: service.get_household(conn, program, household_id))


@router.delete("/{household_id}", response_model=Household,
               responses=problem_responses(401, 403, 404, 409))
def dissolve_household(household_id: HouseholdId, ctx: Writer,
                       idempotency_key: IdempotencyKey = None) -> Household:
    """Dissolve the household: members leave as the program's leaving rule says,
    and the points left in the pool go to the owner."""
    _, body = _once(ctx, idempotency_key, "dissolve_household", {"household_id": household_id},
                    200, lambda conn, program: service.dissolve(
                        conn, program, household_id, now=ctx.clock.now(),
                        actor=ctx.principal.actor))
    return Household.model_validate(body)


@router.post("/{household_id}/members", status_code=201, response_model=Household,
             responses=problem_responses(401, 403, 404, 409, 422))
def add_member(household_id: HouseholdId, payload: HouseholdMemberAdd, ctx: Writer,
               response: Response, idempotency_key: IdempotencyKey = None) -> Household:
    """Add a member as an adult or a child.

    409 ``already_in_household`` when they belong to a household (this one or
    another); 409 ``household_full`` past the program's ``max_members``.
    """
    status, body = _once(ctx, idempotency_key, "add_household_member",
                         {"household_id": household_id, **payload.model_dump(mode="json")},
                         201, lambda conn, program: service.add_member(
                             conn, program, household_id, payload.member_id, payload.role,
                             now=ctx.clock.now(), actor=ctx.principal.actor))
    response.status_code = status
    return Household.model_validate(body)


@router.patch("/{household_id}/members/{member_id}", response_model=Household,
              responses=problem_responses(401, 403, 404, 409, 422))
def change_member_role(household_id: HouseholdId, member_id: MemberId,
                       payload: HouseholdMemberUpdate, ctx: Writer) -> Household:
    """Make a member an adult or a child (the owner's role changes by handing over)."""
    return ctx.write(lambda conn, program: service.change_role(
        conn, program, household_id, member_id, payload.role, now=ctx.clock.now(),
        actor=ctx.principal.actor))


@router.delete("/{household_id}/members/{member_id}", response_model=Household,
               responses=problem_responses(401, 403, 404, 409))
def remove_member(household_id: HouseholdId, member_id: MemberId, ctx: Writer,
                  idempotency_key: IdempotencyKey = None) -> Household:
    """A member leaves; their points stay or go with them as the program says.

    409 ``owner_cannot_leave`` for the owner: hand ownership over first, or
    dissolve the household.
    """
    _, body = _once(ctx, idempotency_key, "remove_household_member",
                    {"household_id": household_id, "member_id": member_id}, 200,
                    lambda conn, program: service.remove_member(
                        conn, program, household_id, member_id, now=ctx.clock.now(),
                        actor=ctx.principal.actor))
    return Household.model_validate(body)


@router.post("/{household_id}/owner", response_model=Household,
             responses=problem_responses(401, 403, 404, 409, 422))
def hand_over(household_id: HouseholdId, payload: OwnerChange, ctx: Writer) -> Household:
    """Hand ownership to an adult member; the previous owner stays as an adult."""
    return ctx.write(lambda conn, program: service.hand_over(
        conn, program, household_id, payload.member_id, now=ctx.clock.now(),
        actor=ctx.principal.actor))


@router.post("/{household_id}/spends", status_code=201, response_model=Posted,
             responses=problem_responses(401, 403, 404, 409, 422))
def spend(household_id: HouseholdId, payload: HouseholdSpendCreate, ctx: Writer) -> Posted:
    """Pay with the pool's points for a member of the household.

    The owner and adults may; a child gets 403 ``household_role_forbidden``.
    409 ``insufficient_points`` when the pool is short. The same
    ``idempotency_key`` returns the first result and spends nothing more.
    """
    return ctx.write(lambda conn, program: service.spend(
        conn, program, household_id, payload, key=f"spend:{payload.idempotency_key}",
        now=ctx.clock.now(), actor=ctx.principal.actor))


@router.get("/{household_id}/balance", response_model=HouseholdBalance,
            responses=problem_responses(401, 403, 404))
def get_balance(household_id: HouseholdId, ctx: Reader) -> HouseholdBalance:
    """The pool's available, pending and lifetime points, and what expires when."""
    return ctx.read(lambda conn, program: service.household_balance(conn, program,
                                                                    household_id))


@router.get("/{household_id}/ledger", response_model=LedgerPage,
            responses=problem_responses(401, 403, 404))
def get_ledger(household_id: HouseholdId, ctx: Reader,
               before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50) -> LedgerPage:
    """The pool's ledger, newest first; each entry names the member who earned or spent."""
    return ctx.read(lambda conn, program: statement.household_ledger(conn, program, household_id,
                                                                     before, limit))
