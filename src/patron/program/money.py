"""Exact arithmetic for points and money: integers in, integers out, one rounding.

A fractional earn rate (1.5 points per $1) or multiplier is a Decimal in the
document. It is turned into an exact integer ratio, so ``amount × rate`` is a
fraction computed without any precision loss, and rounded exactly once with the
program's named mode. This is Decimal arithmetic with unlimited precision, and
fast enough for replaying millions of events.

When one rounded total must be split (across purchase lines so a return can claw
back per line, or across lines after a cap) the largest-remainder method keeps
the parts summing to the total, so nothing is created or lost by attribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision

from patron.program.document import Rounding


def as_ratio(value: Decimal) -> tuple[int, int]:
    """``Decimal("1.25")`` -> ``(5, 4)``: exact numerator and positive denominator."""
    return value.as_integer_ratio()


def round_ratio(numerator: int, denominator: int, mode: Rounding) -> int:
    """Round the non-negative fraction numerator/denominator to an integer."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("points are rounded from a non-negative fraction")
    whole, rest = divmod(numerator, denominator)
    if rest == 0 or mode == "floor":
        return whole
    if mode == "ceiling":
        return whole + 1
    twice = 2 * rest
    if twice != denominator:
        return whole + (twice > denominator)
    if mode == "half_up":
        return whole + 1
    return whole + (whole % 2)  # half_even: to the even neighbour


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights``; the parts always sum to ``total``.

    Ties in the remainders go to the earlier weight, so attribution is
    deterministic (the same purchase always attributes the same way).
    """
    count = len(weights)
    if count <= 1:
        return [total] * count
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [total] + [0] * (count - 1)
    if weight_sum == total:  # nothing taken off the whole: each part is its weight
        return list(weights)
    shares, remainders = [], []
    for weight in weights:
        share, remainder = divmod(total * weight, weight_sum)
        shares.append(share)
        remainders.append(remainder)
    left = total - sum(shares)
    if left:  # a stable sort: equal remainders keep line order
        for i in sorted(range(count), key=remainders.__getitem__, reverse=True)[:left]:
            shares[i] += 1
    return shares


@lru_cache(maxsize=256)
def minor_per_major(currency: str) -> int:
    """Minor units in one major unit: 100 for USD, 1 for JPY, 1000 for BHD."""
    return 10 ** get_currency_precision(currency)


def points_value_minor(points: int, point_value_minor: Decimal) -> int:
    """Money value of points in minor units, rounded half up (finance reports cents)."""
    numerator, denominator = as_ratio(point_value_minor)
    value = abs(points) * numerator
    rounded = round_ratio(value, denominator, "half_up")
    return rounded if points >= 0 else -rounded


def format_money(minor: int, currency: str) -> str:
    """``format_money(5000, "USD")`` -> ``"$50.00"``, for explanations members read."""
    units = Decimal(minor) / minor_per_major(currency)
    return format_currency(units, currency, locale="en_US")
