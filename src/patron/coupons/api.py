from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from fastapi.responses import StreamingResponse

from patron.api.deps import Admin, IdempotencyKey, Reader, Writer, problem_responses
from patron.coupons import checkout, service
from patron.coupons.schemas import (
    Batch,
    BatchCreate,
    Coupon,
    RedeemRequest,
    Redemption,
    ReleaseRequest,
    Validation,
    ValidateRequest,
    VoidRequest,
)
from patron.idempotency.service import run_once
from patron.schemas_common import MAX_INT

router = APIRouter(prefix="/coupons", tags=["coupons"])
BatchId = Annotated[int, Path(ge=1, le=MAX_INT, description="The batch's id")]
Code = Annotated[str, Path(min_length=1, max_length=64, description="The code, as typed: "
                           "case, dashes and spaces do not matter")]
CSV = {"content": {"text/csv": {}}, "description": "The batch's codes, one per line"}


@router.post("/batches", status_code=201, response_model=Batch,
             responses=problem_responses(401, 403, 404, 409, 422))
def create_batch(payload: BatchCreate, ctx: Admin, response: Response,
                 idempotency_key: IdempotencyKey = None) -> Batch:
    """Generate up to 100,000 codes of a coupon type for a promotion (admin keys only).

    The codes belong to no member; they keep the coupon type's terms as the current
    program version has them, and expire per its ``valid_days``/``valid_until``.
    Download them from ``codes_url``. With an ``Idempotency-Key`` a retry returns
    the first batch instead of generating another.
    """
    def work(conn, program):
        def create():
            batch = service.create_batch(conn, program, payload, now=ctx.clock.now(),
                                         actor=ctx.principal.actor)
            return 201, batch.model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation="create_coupon_batch", payload=payload.model_dump(mode="json"),
                        now=ctx.clock.now(), work=create)
    status, body, _ = ctx.write(work)
    response.status_code = status
    return Batch.model_validate(body)


@router.get("/batches/{batch_id}", response_model=Batch,
            responses=problem_responses(401, 403, 404))
def get_batch(batch_id: BatchId, ctx: Admin) -> Batch:
    """A batch and how its codes are doing: used, redemptions standing, voided."""
    return ctx.read(lambda conn, program: service.get_batch(conn, program, batch_id))


@router.get("/batches/{batch_id}/codes.csv", response_class=StreamingResponse,
            responses={**problem_responses(401, 403, 404), 200: CSV})
def export_batch(batch_id: BatchId, ctx: Admin) -> StreamingResponse:
    """The batch's codes as CSV (``code, coupon_type, expires_at, uses_per_code, uses,
    state``), streamed page by page; codes are in their printed form."""
    program, batch = ctx.read(lambda conn, program: (
        program, service.get_batch(conn, program, batch_id)))
    return StreamingResponse(service.batch_csv(ctx.db, program, batch), media_type="text/csv",
                             headers={"Content-Disposition":
                                      f'attachment; filename="coupons-batch-{batch.id}.csv"'})


@router.post("/validate", response_model=Validation,
             responses=problem_responses(401, 403, 404, 422))
def validate(payload: ValidateRequest, ctx: Reader) -> Validation:
    """What each code takes off the order, or why it does not apply (nothing is written).

    Reasons: ``unknown_code``, ``duplicate_code``, ``voided``, ``member_required`` (a
    member's code without ``member_id``), ``other_member``, ``used``, ``expired``,
    ``currency_mismatch``, ``min_spend_not_met`` (against the subtotal before
    discounts), ``not_combinable``, ``type_limit`` (the order already has as many
    codes of the coupon type as its ``max_per_order``, by default one). Codes are
    taken in the order sent: a non-combinable code only applies as the order's only
    code, and the first code wins a clash. The discounts of the codes that apply
    stack in this order, each on what is left: percent codes (rounded half up,
    capped at ``max_amount``), then amount codes (capped at what is left), then free
    shipping (the shipping amount).
    ``member_id`` of an unknown member is 404 ``member_not_found``.
    """
    return ctx.read(lambda conn, program: checkout.validate(conn, program, payload,
                                                            ctx.clock.now()))


@router.get("/{code}", response_model=Coupon, responses=problem_responses(401, 403, 404))
def get_coupon(code: Code, ctx: Reader) -> Coupon:
    """One code: its terms, owner, uses and status."""
    return ctx.read(lambda conn, program: service.get_coupon(conn, program, code,
                                                             ctx.clock.now()))


@router.post("/{code}/redeem", status_code=201, response_model=Redemption,
             responses={**problem_responses(401, 403, 404, 409, 422),
                        200: {"model": Redemption,
                              "description": "The order had redeemed the code already"}})
def redeem(code: Code, payload: RedeemRequest, ctx: Writer, response: Response) -> Redemption:
    """Use a code on an order, re-checking it as validate does.

    409 with the validate reason as ``reason`` when the code does not apply; of two
    checkouts redeeming a single-use code at once, one gets 409 ``coupon_used``.
    Idempotent per ``order_id``: while the order's redemption stands, redeeming
    again returns it (200) and writes nothing; the same ``order_id`` with another
    ``member_id`` or other order amounts is 409 ``idempotency_key_reused``. The
    discount recorded is what the code adds to the order's other standing codes.
    """
    redemption, created = ctx.write(lambda conn, program: checkout.redeem(
        conn, program, code, payload, now=ctx.clock.now(), actor=ctx.principal.actor))
    response.status_code = 201 if created else 200
    return redemption


@router.post("/{code}/release", response_model=Redemption,
             responses=problem_responses(401, 403, 404, 422))
def release(code: Code, payload: ReleaseRequest, ctx: Writer) -> Redemption:
    """Roll back an order's redemption (a cancelled order); the code can be used again
    while it is valid. Releasing again returns the same release. 404
    ``redemption_not_found`` when the order never redeemed the code."""
    return ctx.write(lambda conn, program: checkout.release(
        conn, program, code, payload, now=ctx.clock.now(), actor=ctx.principal.actor))


@router.post("/{code}/void", response_model=Coupon,
             responses=problem_responses(401, 403, 404, 409, 422))
def void(code: Code, payload: VoidRequest, ctx: Admin) -> Coupon:
    """Cancel a code for good, with a reason (admin keys only); again is a no-op.
    409 ``coupon_used`` while a redemption of it stands."""
    return ctx.write(lambda conn, program: service.void(conn, program, code, ctx.clock.now(),
                                                        payload.reason))
