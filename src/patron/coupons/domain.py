"""Coupons as plain functions: codes, expiry, why a code does not apply, and stacking.

**Codes.** The random part comes from ``secrets`` (the operating system's CSPRNG)
over a 31-symbol alphabet without the look-alikes 0/O, 1/I/L: ten symbols are
~49.5 bits, so guessing a live code among 100,000 takes ~10^10 tries. A code is
stored in canonical form (upper case, no dashes or spaces: the type's prefix, then
the random part) and printed as ``PREFIX-XXXXX-XXXXX``; whatever a customer types
is normalised the same way before lookup, so case, dashes and spaces never matter.

**Why not.** A code that does not apply gets one stable reason, checked in this
order (the first that holds is reported): ``voided``, ``member_required`` /
``other_member`` (a member's code before its state, so trying someone else's code
reveals nothing about it), ``used``, ``expired``, ``currency_mismatch``,
``min_spend_not_met``, then, among several codes, ``not_combinable`` and
``type_limit``. Unknown codes are ``unknown_code`` and a code given twice is
``duplicate_code``.

**Stacking.** Codes are taken in the order given. A code that applies on its own
joins the order unless it clashes with a code that joined before it: a
non-combinable code only joins an order that has no other code, and nothing joins
after it. So a non-combinable code is always the only code of an order; the
checkout's first code wins. A coupon type is a promotion, not a coupon per code:
an order takes at most its ``max_per_order`` codes of one type (by default one),
and a further code of that type is ``type_limit`` (two codes of a 15 % type take
15 %, not 30 %). The discounts of the codes that joined are then
applied in this order, each to what the ones before left:

1. percent codes (in the order given): ``percent`` of the remaining subtotal,
   rounded half up to the minor unit, capped at ``max_amount``; two 10 % codes
   (of two types, or of one that allows two per order) take 19 %, never more than
   the subtotal;
2. amount codes (in the order given): ``amount``, capped at the remaining subtotal;
3. free shipping: the order's shipping amount, once, whatever the number of codes.

Percent first is what a customer reading "10 % off" and "5 off" expects: 10 % of
the price, then 5 off. ``min_spend`` compares with the subtotal before discounts.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal
from zoneinfo import ZoneInfo

from patron.program.compiled import instant
from patron.program.incentives import CouponType
from patron.program.money import round_ratio

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 symbols: no 0/O, 1/I/L
GROUP = 5
MAX_CODE = 40
"""Canonical length limit: a 12-character prefix and 24 random characters fit."""

# Random bytes map to symbols by ``byte % 31``; bytes from 248 (= 8 x 31) up are
# discarded, so every symbol is exactly as likely as every other.
_KEEP = 256 - 256 % len(ALPHABET)
_SYMBOLS = bytes.maketrans(bytes(range(_KEEP)),
                           bytes(ord(ALPHABET[b % len(ALPHABET)]) for b in range(_KEEP)))
_DISCARD = bytes(range(_KEEP, 256))

Reason = Literal["unknown_code", "duplicate_code", "voided", "member_required", "other_member",
                 "used", "expired", "currency_mismatch", "min_spend_not_met", "not_combinable",
                 "type_limit"]
AppliesTo = Literal["subtotal", "shipping"]


# --------------------------------------------------------------------------- codes

def random_parts(count: int, length: int) -> list[str]:
    """``count`` random strings of ``length`` symbols, from one read of the CSPRNG."""
    need = count * length
    symbols = bytearray()
    while len(symbols) < need:
        wanted = need - len(symbols)
        symbols += secrets.token_bytes(wanted + wanted // 16 + 16).translate(_SYMBOLS, _DISCARD)
    text = symbols[:need].decode("ascii")
    return [text[i:i + length] for i in range(0, need, length)]


def canonical_prefix(prefix: str) -> str:
    return prefix.replace("-", "").upper()


def new_codes(count: int, length: int, prefix: str, *, avoid: frozenset[str] = frozenset()
              ) -> list[str]:
    """``count`` distinct canonical codes, none of them in ``avoid``."""
    head = canonical_prefix(prefix)
    codes: dict[str, None] = {}
    while len(codes) < count:
        for part in random_parts(count - len(codes), length):
            code = head + part
            if code not in avoid:
                codes[code] = None
    return list(codes)


def replace_codes(codes: Sequence[str], taken: set[str], length: int, prefix: str) -> list[str]:
    """``codes`` with each one in ``taken`` swapped for a fresh code; the others stay."""
    fresh = iter(new_codes(len(taken), length, prefix, avoid=frozenset(codes) | taken))
    return [next(fresh) if code in taken else code for code in codes]


def normalise(text: str) -> str | None:
    """What a customer typed, in canonical form; None when it cannot be a code."""
    code = "".join(text.split()).replace("-", "").upper()
    if not code or len(code) > MAX_CODE or not code.isascii() or not code.isalnum():
        return None
    return code


def display(code: str, prefix: str) -> str:
    """``SUMMER`` + ``ABCDEFGHJK`` -> ``SUMMER-ABCDE-FGHJK``: groups of at most five."""
    head = canonical_prefix(prefix)
    body = code[len(head):] if head and code.startswith(head) else code
    groups = max(1, math.ceil(len(body) / GROUP))
    size, longer = divmod(len(body), groups)
    parts, start = [], 0
    for n in range(groups):
        end = start + size + (n < longer)
        parts.append(body[start:end])
        start = end
    return "-".join([head, *parts] if head else parts)


# --------------------------------------------------------------------------- expiry

def expiry(terms: CouponType, issued_at: datetime, zone: ZoneInfo) -> datetime | None:
    """When a code issued at ``issued_at`` stops working: ``valid_days`` after issue or
    the end of ``valid_until`` (a plain date is that whole day in the program
    timezone), whichever comes first; None when neither is set."""
    ends = []
    if terms.valid_days is not None:
        ends.append(issued_at + timedelta(days=terms.valid_days))
    if terms.valid_until is not None:
        ends.append(until(terms.valid_until, zone))
    return min(ends, default=None)


def until(bound: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(bound, datetime) and bound.tzinfo is None:
        bound = bound.replace(tzinfo=zone)  # a date-time without offset is program time
    end = instant(bound, zone, end=True)
    assert end is not None
    return end.astimezone(timezone.utc)


# --------------------------------------------------------------------------- checkout

@dataclass(frozen=True)
class Order:
    subtotal: int
    shipping: int
    currency: str


@dataclass(frozen=True)
class Coupon:
    """One code as checkout sees it: its terms and where it stands."""

    id: int
    code: str
    terms: CouponType
    member_id: int | None
    uses: int
    uses_per_code: int
    voided: bool
    expires_at: datetime | None

    @property
    def applies_to(self) -> AppliesTo:
        return "shipping" if self.terms.discount.free_shipping else "subtotal"


@dataclass(frozen=True)
class Verdict:
    coupon: Coupon | None
    reason: Reason | None = None
    detail: str | None = None
    discount: int = 0
    conflicts_with: Coupon | None = None

    @property
    def valid(self) -> bool:
        return self.reason is None


def refusal(coupon: Coupon, *, member_id: int | None, order: Order, currency: str,
            now: datetime) -> tuple[Reason, str] | None:
    """Why ``coupon`` cannot be used on ``order`` on its own; None when it can."""
    terms = coupon.terms
    if coupon.voided:
        return "voided", "this code was cancelled"
    if coupon.member_id is not None and member_id is None:
        return "member_required", "this code belongs to a member: send the buyer's member_id"
    if coupon.member_id is not None and member_id != coupon.member_id:
        return "other_member", "this code belongs to another member"
    if coupon.uses >= coupon.uses_per_code:
        return "used", "this code has already been used" if coupon.uses_per_code == 1 else \
            f"this code has been used its {coupon.uses_per_code} times"
    if coupon.expires_at is not None and now >= coupon.expires_at:
        return "expired", f"this code expired at {coupon.expires_at.isoformat()}"
    if order.currency != currency:
        return "currency_mismatch", f"this program's codes apply to {currency} orders"
    if terms.min_spend is not None and order.subtotal < terms.min_spend:
        return "min_spend_not_met", (f"needs a subtotal of at least {terms.min_spend} (minor "
                                     f"units); {terms.min_spend - order.subtotal} more to go")
    return None


def same_checkout(recorded: Order, recorded_member: int | None, order: Order,
                  member_id: int | None) -> bool:
    """Whether a redemption sent again for its order is the one recorded (a retry).

    The order id is the redemption's idempotency key: a retry returns the recorded
    redemption, but the same order id with another buyer or other amounts is another
    checkout reusing the key, and must not be answered with a discount priced for
    an order it is not. (Order lines are informational and not recorded.)
    """
    return recorded == order and recorded_member == member_id


def evaluate(order: Order, coupons: Sequence[Coupon | None], *, member_id: int | None,
             currency: str, now: datetime,
             standing: Sequence[tuple[Coupon, int]] = ()) -> list[Verdict]:
    """The verdict on each code of ``coupons`` (None: unknown) for ``order``.

    ``standing`` are codes the order already redeemed, with the discount recorded
    for each; they are in the order unconditionally. A code's discount is then what
    it adds: its share of the stacked discount, but never more than the stacked total on
    its target less what the codes before it (standing ones included) already give
    there. So an order's recorded discounts never add up to more than the discount of
    all its codes stacked together, whatever order they were redeemed in.
    """
    joined: list[Coupon] = [coupon for coupon, _ in standing]
    seen = {coupon.code for coupon in joined}
    verdicts = [_alone(coupon, seen, joined, member_id=member_id, order=order,
                       currency=currency, now=now) for coupon in coupons]
    given = {"subtotal": 0, "shipping": 0}
    for coupon, recorded in standing:
        given[coupon.applies_to] += recorded
    return _priced(verdicts, order, joined, given)


def _priced(verdicts: list[Verdict], order: Order, joined: list[Coupon],
            given: dict[str, int]) -> list[Verdict]:
    """The verdicts with the discount of each code that joined (see ``evaluate``)."""
    totals = {"subtotal": 0, "shipping": 0}
    own: dict[int, int] = {}
    for coupon, amount in zip(joined, stacked(order, [c.terms for c in joined])):
        totals[coupon.applies_to] += amount
        own[id(coupon)] = amount
    priced = []
    for verdict in verdicts:
        if verdict.valid and verdict.coupon is not None:
            target = verdict.coupon.applies_to
            share = min(own[id(verdict.coupon)], max(0, totals[target] - given[target]))
            given[target] += share
            verdict = Verdict(verdict.coupon, discount=share)
        priced.append(verdict)
    return priced


def _alone(coupon: Coupon | None, seen: set[str], joined: list[Coupon],
           **context: Any) -> Verdict:
    """The verdict before discounts; a code that applies joins ``joined``."""
    if coupon is None:
        return Verdict(None, "unknown_code", "no such code in this program")
    if coupon.code in seen:
        return Verdict(coupon, "duplicate_code", "this code is already in the order")
    seen.add(coupon.code)
    refused = refusal(coupon, **context)
    if refused is not None:
        return Verdict(coupon, *refused)
    blocker = next((other for other in joined
                    if not (coupon.terms.combinable and other.terms.combinable)), None)
    if blocker is not None:
        why = ("this code cannot be combined with other codes" if not coupon.terms.combinable
               else "the order already has a code that cannot be combined")
        return Verdict(coupon, "not_combinable", why, conflicts_with=blocker)
    terms = coupon.terms
    same_type = [other for other in joined if other.terms.id == terms.id]
    if len(same_type) >= terms.max_per_order:
        return Verdict(coupon, "type_limit",
                       f"the order already has {len(same_type)} code(s) of coupon type "
                       f"{terms.id!r}, which allows {terms.max_per_order} per order",
                       conflicts_with=same_type[0])
    joined.append(coupon)
    return Verdict(coupon)


_RANK = {"percent": 0, "amount": 1, "free_shipping": 2}


def kind(terms: CouponType) -> Literal["percent", "amount", "free_shipping"]:
    discount = terms.discount
    if discount.percent is not None:
        return "percent"
    return "amount" if discount.amount is not None else "free_shipping"


def stacked(order: Order, terms: Sequence[CouponType]) -> list[int]:
    """Each coupon's discount when all of ``terms`` apply together (see the module)."""
    amounts = [0] * len(terms)
    remaining, shipping = order.subtotal, order.shipping
    for i in sorted(range(len(terms)), key=lambda i: _RANK[kind(terms[i])]):
        discount = terms[i].discount
        if discount.percent is not None:
            numerator, denominator = discount.percent.as_integer_ratio()
            off = round_ratio(remaining * numerator, denominator * 100, "half_up")
            if discount.max_amount is not None:
                off = min(off, discount.max_amount)
            remaining -= off
        elif discount.amount is not None:
            off = min(discount.amount, remaining)
            remaining -= off
        else:
            off, shipping = shipping, 0
        amounts[i] = off
    return amounts
