"""What an event earns, until a program publishes earn rules: one flat rate.

Points are earned on the order total (what the member paid), in Decimal, and
rounded once with the program's rounding mode.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

from patron.ledger.domain import points_for_amount
from patron.programs.domain import ProgramSettings


def flat_rate_points(settings: ProgramSettings, total_minor: int) -> int:
    return points_for_amount(total_minor, settings.minor_exponent, settings.points_per_unit,
                             settings.rounding)


def money(settings: ProgramSettings, minor: int) -> str:
    units = Decimal(minor).scaleb(-settings.minor_exponent)
    return format_currency(units, settings.currency, locale="en_US")


def flat_rate_reason(settings: ProgramSettings, order_id: str, total_minor: int,
                     points: int) -> str:
    rate = settings.points_per_unit.normalize()
    name = settings.points_name
    return (f"{rate} {name} per {settings.currency} 1 on order {order_id} "
            f"({money(settings, total_minor)}): +{points}")
