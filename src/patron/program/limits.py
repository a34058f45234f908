"""Caps on what a rule may award: per event, per member and period, and a total budget.

Limits are applied to a rule's rounded total for the event, in a fixed order
(per event, then each per-member period, then the budget) and the tightest one
wins. The engine is told what a rule already gave through a ``UsageReader``, so
this stays pure: the service asks the ledger, the simulator its own memory.
"""

from __future__ import annotations

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


def cap_text(rule: Any, capped_by: str | None, points_name: str = "points") -> str:
    """A cap as a member reads it: "limit of 5 per month reached"."""
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
