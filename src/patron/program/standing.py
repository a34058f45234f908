"""A member's recorded standing (tier and paid plan), and what one document makes of it.

The simulator replays events through documents that may differ from the one the
standing was recorded under: a draft can rename a level, drop a plan or change
what a tier multiplies by. ``place`` reads a standing the way the live service
reads a member's tier state with the current document (``TierTracker``), so the
same standing gives each document its own answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from patron.program.membership import MembershipPlan, Tiers


class Standing(NamedTuple):
    """What Patron recorded about a member at one moment."""

    tier: str | None = None
    """The tier they held (earned, or set by hand while it lasted), before any plan's
    floor; None: nothing recorded, so the ladder's first level."""
    plan: str | None = None
    """The paid plan whose benefits they enjoyed; None: none."""


NO_STANDING = Standing()

StandingLookup = Callable[[str, datetime], Standing]
"""``(member key, at) -> Standing``: a member's tier and plan at an instant."""


@dataclass(frozen=True, slots=True)
class Placing:
    """A standing as one document sees it: the tier rules read and the multipliers."""

    tier: str | None
    multipliers: Mapping[str, Decimal]
    missing_tier: str | None = None
    """The recorded tier, when the document has no such tier."""
    missing_plan: str | None = None
    """The recorded plan, when the document offers no such plan."""


def place(tiers: Tiers | None, plans: Mapping[str, MembershipPlan],
          standing: Standing) -> Placing:
    """The tier and benefit multipliers ``standing`` gives under one document.

    As the live service does: the tier is the recorded one (the first level when
    nothing is recorded), lifted to the plan's ``tier_floor``; the multipliers are
    the tier's and the plan's ``earn_multiplier``. What the document lacks runs
    without it.
    """
    plan = plans.get(standing.plan) if standing.plan is not None else None
    missing_plan = standing.plan if plan is None else None
    multipliers: dict[str, Decimal] = {}
    if plan is not None:
        multipliers["membership"] = plan.benefits.earn_multiplier
    if tiers is None:
        return Placing(None, multipliers, standing.tier, missing_plan)
    ladder = {level.id: index for index, level in enumerate(tiers.levels)}
    tier, missing_tier = standing.tier, None
    if tier is None:
        tier = tiers.levels[0].id
    elif tier not in ladder:
        tier, missing_tier = None, tier
    floor = plan.benefits.tier_floor if plan is not None else None
    if floor in ladder and (tier is None or ladder[floor] > ladder[tier]):
        tier = floor
    if tier is not None:
        multipliers["tier"] = tiers.levels[ladder[tier]].benefits.earn_multiplier
    return Placing(tier, multipliers, missing_tier, missing_plan)
