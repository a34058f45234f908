"""Caps on what a rule may award: per event, per member and period, and a total budget.

Limits are applied to a rule's rounded total for the event, in a fixed order
(per event, then each per-member period, then the budget) and the tightest one
wins. The engine is told what a rule already gave through a ``UsageReader``, so
this stays pure: the service asks the ledger, the simulator its own memory.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from patron.program.context import UsageReader


def apply_limits(rule: Any, total: int, usage: UsageReader) -> tuple[int, str | None]:
    """Points the rule may still give out of ``total``, and the limit that bit (if any).

    A per-member *awards* limit is all-or-nothing: the sixth review of a month
    with a limit of five earns nothing rather than a fraction.
    """
    limits = rule.limits
    granted, capped_by = total, None
    if limits.per_event is not None and granted > limits.per_event:
        granted, capped_by = limits.per_event, "per_event"
    for period, limit in rule.member_limits:
        used = usage.member_usage(rule.id, period)
        if limit.awards is not None and used.awards >= limit.awards:
            return 0, f"per_member.{period}.awards"
        if limit.points is not None and granted > max(limit.points - used.points, 0):
            granted, capped_by = max(limit.points - used.points, 0), f"per_member.{period}.points"
    if limits.budget is not None:
        room = max(limits.budget - usage.budget_used(rule.id), 0)
        if granted > room:
            granted, capped_by = room, "budget"
    return granted, capped_by


def campaign_cost(kind: str, amount: int, point_value: Decimal) -> tuple[int, int]:
    """What an award costs its campaign: (points, money in minor units). Points are
    priced at the program's point value, rounded up; cashback is money itself; a gift
    is counted by the campaign's money when it is given at assignment, not here."""
    if kind == "gift":
        return 0, 0
    if kind == "cashback":
        return 0, amount
    return amount, math.ceil(amount * point_value)


def campaign_room(kind: str, wanted: int, budget: Any, used: tuple[int, int],
                  point_value: Decimal) -> int:
    """How much of ``wanted`` a campaign's remaining ``budget`` (points, money) allows."""
    if kind == "gift" or budget is None:
        return wanted
    room = wanted
    if budget.money is not None:
        money_left = max(budget.money - used[1], 0)
        if kind == "cashback":
            room = min(room, money_left)
        elif point_value > 0:
            room = min(room, math.floor(money_left / point_value))
    if budget.points is not None and kind != "cashback":
        room = min(room, max(budget.points - used[0], 0))
    return room


def cap_text(rule: Any, capped_by: str | None, points_name: str = "points") -> str:
    """A cap as a member reads it: "limit of 5 per month reached"."""
    if capped_by == "campaign_budget":
        return "the campaign's budget is used up"
    limits = rule.limits
    if capped_by is None or limits is None:
        return ""
    if capped_by == "per_event":
        return f"at most {limits.per_event} per event"
    if capped_by == "budget":
        return "the promotion's points budget is used up"
    _, period, what = capped_by.split(".")
    limit = getattr(limits.per_member, period)
    per = "in total" if period == "lifetime" else f"per {period}"
    if what == "awards":
        return f"limit of {limit.awards} {per} reached"
    return f"at most {limit.points} {points_name} {per}"
