from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from patron.api.deps import IdempotencyKey, Reader, Writer, problem_responses
from patron.errors import InvalidInput
from patron.flows import redemption
from patron.members.api import MemberId
from patron.rewards import gifts, service
from patron.rewards.schemas import (DonationTotals, Gift, GiftFulfilmentUpdate, GiftPage,
                                    Redemption, RedemptionCancel, RedemptionCreate,
                                    RedemptionFulfilmentUpdate, RedemptionPage,
                                    RewardCatalog)
from patron.schemas_common import MAX_INT, Instant

router = APIRouter(tags=["rewards"])
RedemptionId = Annotated[int, Path(ge=1, le=MAX_INT, description="The redemption's id")]
GiftId = Annotated[int, Path(ge=1, le=MAX_INT, description="The gift's id")]


@router.get("/members/{member_id}/rewards", response_model=RewardCatalog,
            responses=problem_responses(401, 403, 404))
def member_rewards(member_id: MemberId, ctx: Reader,
                   everything: Annotated[bool, Query(
                       alias="all", description="Also rewards outside their dates (reason "
                       "not_yet_available or expired)")] = False) -> RewardCatalog:
    """The rewards catalog as this member sees it now.

    Each reward says whether the member is ``eligible`` (tier, plan, condition,
    their limit, stock, dates), whether it is ``affordable`` with their available
    points, and the ``reason`` when they cannot redeem it: ``tier_required``,
    ``plan_required``, ``condition_not_met``, ``limit_reached``, ``out_of_stock``,
    ``insufficient_points``, ``not_yet_available`` or ``expired``.
    """
    now = ctx.clock.now()
    return ctx.read(lambda conn, program: service.catalog(conn, program, member_id, now,
                                                          everything=everything))


@router.post("/members/{member_id}/redemptions", status_code=201, response_model=Redemption,
             responses=problem_responses(401, 403, 404, 409, 422))
def redeem(member_id: MemberId, payload: RedemptionCreate, ctx: Writer, response: Response,
           idempotency_key: IdempotencyKey = None) -> Redemption:
    """Redeem a reward for points, in one transaction.

    Points are spent soonest-expiring first and a unit of stock is taken; the
    answer carries what the reward gave: a coupon code, cashback credited to the
    wallet, a booked place, a gift pending fulfilment, or a donation. A refusal
    is 409 with the catalog's reason as its ``code`` (``out_of_stock``,
    ``limit_reached``, ``insufficient_points``, ``tier_required``...). The same
    ``idempotency_key`` returns the first redemption (200) and spends nothing more.
    """
    key = payload.idempotency_key or idempotency_key
    if key is None:
        raise InvalidInput("a redemption needs an idempotency_key (or Idempotency-Key header)",
                           field="idempotency_key")
    now = ctx.clock.now()
    redeemed, created = ctx.write(lambda conn, program: redemption.redeem(
        conn, program, member_id, reward_id=payload.reward_id, key=key,
        actor=ctx.principal.actor, now=now))
    response.status_code = 201 if created else 200
    return redeemed


@router.get("/members/{member_id}/redemptions", response_model=RedemptionPage,
            responses=problem_responses(401, 403, 404))
def member_redemptions(member_id: MemberId, ctx: Reader,
                       before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> RedemptionPage:
    """The member's redemptions, newest first, cancelled ones included."""
    return ctx.read(lambda conn, program: service.member_redemptions(
        conn, program, member_id, before, limit))


@router.get("/redemptions/{redemption_id}", response_model=Redemption,
            responses=problem_responses(401, 403, 404))
def get_redemption(redemption_id: RedemptionId, ctx: Reader) -> Redemption:
    """One redemption, with the lots its points came from."""
    return ctx.read(lambda conn, program: service.get_redemption(conn, program, redemption_id))


@router.post("/redemptions/{redemption_id}/cancel", response_model=Redemption,
             responses=problem_responses(401, 403, 404, 409, 422))
def cancel_redemption(redemption_id: RedemptionId, ctx: Writer,
                      payload: RedemptionCancel | None = None) -> Redemption:
    """Cancel a redemption: the points go back into the lots they came from (a lot
    that expired meanwhile is replaced by a new one with a fresh expiry), the unit
    of stock is returned and the coupon voided or the cashback taken back.

    409 ``coupon_used`` when the coupon was redeemed, ``cashback_spent`` when the
    cashback left the wallet, ``gift_sent`` for a gift on its way, ``experience_attended``
    for an experience that took place. Cancelling again returns the cancelled redemption.
    """
    now = ctx.clock.now()
    reason = payload.reason if payload else None
    return ctx.write(lambda conn, program: redemption.cancel(
        conn, program, redemption_id, reason=reason, actor=ctx.principal.actor, now=now))


@router.post("/redemptions/{redemption_id}/fulfilment", response_model=Redemption,
             responses=problem_responses(401, 403, 404, 409, 422))
def move_redemption_fulfilment(redemption_id: RedemptionId,
                               payload: RedemptionFulfilmentUpdate, ctx: Writer) -> Redemption:
    """Record that a redeemed gift was ``sent`` or ``delivered``, or that the member
    ``attended`` a redeemed experience.

    A gift starts ``pending_fulfilment`` and an experience ``booked``; they move on,
    never back. Asking for the state it is in returns it unchanged. 409
    ``fulfilment_not_tracked`` for other reward types (or another type's state),
    ``redemption_cancelled``, ``fulfilment_backwards``.
    """
    return ctx.write(lambda conn, program: redemption.move_fulfilment(
        conn, program, redemption_id, payload.state))


@router.get("/members/{member_id}/gifts", response_model=GiftPage,
            responses=problem_responses(401, 403, 404))
def member_gifts(member_id: MemberId, ctx: Reader,
                 before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> GiftPage:
    """Gifts earn rules gave the member with their purchases, newest first, cancelled
    ones included (a return took the order below what the rule needed)."""
    return ctx.read(lambda conn, program: gifts.member_gifts(conn, program, member_id, before,
                                                             limit))


@router.get("/gifts/{gift_id}", response_model=Gift, responses=problem_responses(401, 403, 404))
def get_gift(gift_id: GiftId, ctx: Reader) -> Gift:
    """One gift an earn rule gave, with the event and order that earned it."""
    return ctx.read(lambda conn, program: gifts.get_gift(conn, program, gift_id))


@router.post("/gifts/{gift_id}/fulfilment", response_model=Gift,
             responses=problem_responses(401, 403, 404, 409, 422))
def move_gift_fulfilment(gift_id: GiftId, payload: GiftFulfilmentUpdate,
                         ctx: Writer) -> Gift:
    """Record that the gift was sent, or delivered.

    A gift starts ``pending_fulfilment``, as a redeemed gift does, and moves on to
    ``sent`` and ``delivered``. Asking for the state it is in returns it unchanged;
    409 ``fulfilment_backwards`` for a step back, ``gift_cancelled`` for a gift a
    return cancelled.
    """
    return ctx.write(lambda conn, program: gifts.move_fulfilment(conn, program, gift_id,
                                                                 payload.state))


@router.get("/donations", response_model=DonationTotals,
            responses=problem_responses(401, 403, 422))
def donation_totals(ctx: Reader,
                    since: Annotated[Instant | None, Query(
                        description="Donations made at or after this instant")] = None,
                    until: Annotated[Instant | None, Query(
                        description="Donations made before this instant")] = None
                    ) -> DonationTotals:
    """Points donated through donation rewards, per cause (cancelled ones excluded)."""
    return ctx.read(lambda conn, program: service.donations(conn, program, since, until))
