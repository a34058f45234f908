"""Coupons at checkout: validate codes against an order, redeem one, release it.

Validation and redemption share one rule set (:mod:`patron.coupons.domain`), so a
code that validates redeems, unless another checkout took it in between.

Concurrency: a redemption locks the order (a transaction-scoped advisory lock on
PostgreSQL) and then the code's row (``SELECT … FOR UPDATE``), re-checks the code
under those locks, and takes its use with a guarded ``UPDATE … WHERE uses <
uses_per_code``. Two checkouts redeeming a single-use code at once therefore
succeed exactly once; the other gets 409 ``coupon_used``. Two retries of one order
queue on the order lock, so the second sees and returns the first's redemption.
On SQLite every write transaction holds the database (``BEGIN IMMEDIATE``).
Locks are always taken order first, then one code, so they cannot deadlock.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, NoReturn

from sqlalchemy import Connection

from patron import hooks
from patron.coupons import domain, repository
from patron.coupons.schemas import (
    CodeVerdict,
    OrderIn,
    RedeemRequest,
    Redemption,
    ReleaseRequest,
    Validation,
    ValidateRequest,
)
from patron.coupons.service import CouponNotFound, CouponRefused, CouponUsed, type_of
from patron.errors import IdempotencyKeyReused, NotFound
from patron.members.service import require_member
from patron.program.service import Program


class CouponExpired(CouponRefused):
    code, reason, title = "coupon_expired", "expired", "Coupon expired"


class CouponVoided(CouponRefused):
    code, reason, title = "coupon_voided", "voided", "Coupon voided"


class CouponMemberRequired(CouponRefused):
    code, reason, title = "coupon_member_required", "member_required", "Coupon needs its member"


class CouponOtherMember(CouponRefused):
    code, reason, title = "coupon_other_member", "other_member", "Another member's coupon"


class CouponCurrencyMismatch(CouponRefused):
    code, reason, title = "coupon_currency_mismatch", "currency_mismatch", "Wrong currency"


class CouponMinSpendNotMet(CouponRefused):
    code, reason, title = "coupon_min_spend_not_met", "min_spend_not_met", "Minimum spend not met"


class CouponNotCombinable(CouponRefused):
    code, reason, title = "coupon_not_combinable", "not_combinable", "Coupon cannot be combined"


class CouponTypeLimit(CouponRefused):
    code, reason, title = "coupon_type_limit", "type_limit", "Coupon type already in the order"


REFUSALS: dict[str, type[CouponRefused]] = {cls.reason: cls for cls in (
    CouponUsed, CouponExpired, CouponVoided, CouponMemberRequired, CouponOtherMember,
    CouponCurrencyMismatch, CouponMinSpendNotMet, CouponNotCombinable, CouponTypeLimit)}


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    title = "Redemption not found"


def _order(order: OrderIn) -> domain.Order:
    return domain.Order(order.subtotal, order.shipping, order.currency)


def _coupon(conn: Connection, program: Program, row: Any) -> domain.Coupon:
    return domain.Coupon(row.id, row.code, type_of(conn, program, row), row.member_id,
                         row.uses, row.uses_per_code, row.state == "voided", row.expires_at)


def validate(conn: Connection, program: Program, payload: ValidateRequest,
             now: datetime) -> Validation:
    """What each code would take off the order now, or why it would not apply."""
    if payload.member_id is not None:
        require_member(conn, program, payload.member_id)
    typed = payload.entered
    canonical = [domain.normalise(code) for code in typed]
    rows = repository.checkout_rows(conn, program.id, sorted({c for c in canonical if c}))
    coupons = [_coupon(conn, program, rows[c]) if c in rows else None for c in canonical]
    order = _order(payload.order)
    verdicts = domain.evaluate(order, coupons, member_id=payload.member_id,
                               currency=program.settings.currency, now=now)
    codes = [_verdict(verdict, text) for verdict, text in zip(verdicts, typed)]
    discount = sum(c.discount for c in codes if c.applies_to == "subtotal")
    shipping = sum(c.discount for c in codes if c.applies_to == "shipping")
    return Validation(currency=order.currency, subtotal=order.subtotal, shipping=order.shipping,
                      discount=discount, shipping_discount=shipping,
                      total_discount=discount + shipping, codes=codes)


def _verdict(verdict: domain.Verdict, typed: str) -> CodeVerdict:
    coupon = verdict.coupon
    if coupon is None:
        return CodeVerdict(code=typed, valid=False, reason=verdict.reason, detail=verdict.detail)
    terms = coupon.terms
    return CodeVerdict(code=domain.display(coupon.code, terms.prefix), valid=verdict.valid,
                       reason=verdict.reason, detail=verdict.detail, coupon_type=terms.id,
                       name=terms.name, applies_to=coupon.applies_to, discount=verdict.discount,
                       expires_at=coupon.expires_at,
                       conflicts_with=verdict.conflicts_with and _printed(
                           verdict.conflicts_with))


def _printed(coupon: domain.Coupon) -> str:
    return domain.display(coupon.code, coupon.terms.prefix)


def redeem(conn: Connection, program: Program, code: str, payload: RedeemRequest, *,
           now: datetime, actor: str) -> tuple[Redemption, bool]:
    """Use ``code`` on an order; returns the redemption and whether it is new.

    Redeeming again for the same ``order_id`` returns the redemption that stands
    (nothing more is written), if the member and amounts are the ones recorded
    (else 409 ``idempotency_key_reused``); after a release, it redeems afresh.
    """
    if payload.member_id is not None:
        require_member(conn, program, payload.member_id)
    canonical = domain.normalise(code)
    if canonical is None:
        raise CouponNotFound(code)
    repository.lock_order(conn, program.id, payload.order_id)
    row = repository.coupon_row(conn, program.id, canonical, lock=True)
    if row is None:
        raise CouponNotFound(code)
    coupon = _coupon(conn, program, row)
    standing = repository.standing_redemptions(conn, program.id, payload.order_id)
    mine = next((r for r in standing if r.coupon_id == row.id), None)
    if mine is not None:
        if not domain.same_checkout(domain.Order(mine.subtotal, mine.shipping, mine.currency),
                                    mine.member_id, _order(payload.order), payload.member_id):
            raise IdempotencyKeyReused(
                f"order {payload.order_id!r} redeemed this code with another member or other "
                "amounts; release it first to redeem it for the changed order",
                order_id=payload.order_id, coupon=_printed(coupon))
        return _from_row(mine, coupon, row.uses, row.state), False
    verdict = domain.evaluate(_order(payload.order), [coupon], member_id=payload.member_id,
                              currency=program.settings.currency, now=now,
                              standing=_standing(conn, program, standing))[0]
    if not verdict.valid:
        _refuse(verdict, coupon)
    if not repository.take_use(conn, row.id):  # the lock makes this a second line of defence
        raise CouponUsed("this code has already been used", coupon=_printed(coupon))
    order = payload.order
    redemption_id = repository.insert_redemption(
        conn, program_id=program.id, coupon_id=row.id, order_id=payload.order_id,
        kind="redeemed", redemption_id=None, member_id=payload.member_id,
        currency=order.currency, subtotal=order.subtotal, shipping=order.shipping,
        discount=verdict.discount, actor=actor, recorded_at=now)
    _announce(conn, program, row, coupon, payload.member_id, payload.order_id,
              verdict.discount, now)
    return _redemption(coupon, row.uses + 1, row.state, id=redemption_id,
                       order_id=payload.order_id, member_id=payload.member_id,
                       status="redeemed", discount=verdict.discount, currency=order.currency,
                       redeemed_at=now.astimezone(timezone.utc), released_at=None), True


def _announce(conn: Connection, program: Program, row: Any, coupon: domain.Coupon,
              member_id: int | None, order_id: str, discount: int, now: datetime) -> None:
    if discount:
        hooks.emit(conn, hooks.CouponUsed(
            program=program, coupon_id=row.id, coupon_type=coupon.terms.id,
            kind=domain.kind(coupon.terms), source=row.source, member_id=member_id,
            order_id=order_id, discount=discount, at=now))


def _refuse(verdict: domain.Verdict, coupon: domain.Coupon) -> NoReturn:
    refusal = REFUSALS.get(verdict.reason or "", CouponRefused)
    extra = {"conflicts_with": _printed(verdict.conflicts_with)} if verdict.conflicts_with \
        else {}
    raise refusal(verdict.detail or "the code cannot be used", coupon=_printed(coupon), **extra)


def _standing(conn: Connection, program: Program, rows: list[Any]
              ) -> list[tuple[domain.Coupon, int]]:
    """The order's standing redemptions as (code, recorded discount)."""
    coupons = repository.coupons_by_id(conn, sorted({r.coupon_id for r in rows}))
    return [(_coupon(conn, program, coupons[r.coupon_id]), r.discount) for r in rows]


def release(conn: Connection, program: Program, code: str, payload: ReleaseRequest, *,
            now: datetime, actor: str) -> Redemption:
    """Roll back the order's redemption of ``code`` (a cancelled order); the code can
    be used again if it is still valid. Releasing again returns the same release."""
    canonical = domain.normalise(code)
    row = repository.coupon_row(conn, program.id, canonical, lock=True) if canonical else None
    if row is None:
        raise CouponNotFound(code)
    coupon = _coupon(conn, program, row)
    previous = repository.latest_redemption(conn, row.id, payload.order_id)
    if previous is None:
        raise RedemptionNotFound(f"order {payload.order_id!r} has not redeemed this code",
                                 order_id=payload.order_id)
    if previous.released_at is not None:
        return _from_row(previous, coupon, row.uses, row.state)
    repository.insert_redemption(
        conn, program_id=program.id, coupon_id=row.id, order_id=payload.order_id,
        kind="released", redemption_id=previous.id, member_id=previous.member_id,
        currency=previous.currency, subtotal=previous.subtotal, shipping=previous.shipping,
        discount=-previous.discount, actor=actor, recorded_at=now)
    repository.give_back_use(conn, row.id)
    _announce(conn, program, row, coupon, previous.member_id, payload.order_id,
              -previous.discount, now)
    return _from_row(previous, coupon, row.uses - 1, row.state).model_copy(
        update={"status": "released", "released_at": now.astimezone(timezone.utc)})


def _from_row(row: Any, coupon: domain.Coupon, uses: int, state: str) -> Redemption:
    return _redemption(coupon, uses, state, id=row.id, order_id=row.order_id,
                       member_id=row.member_id,
                       status="released" if row.released_at is not None else "redeemed",
                       discount=row.discount, currency=row.currency,
                       redeemed_at=row.recorded_at, released_at=row.released_at)


def _redemption(coupon: domain.Coupon, uses: int, state: str, **fields: Any) -> Redemption:
    return Redemption(code=_printed(coupon), coupon_type=coupon.terms.id,
                      applies_to=coupon.applies_to,
                      uses_left=0 if state == "voided" else max(0, coupon.uses_per_code - uses),
                      **fields)
