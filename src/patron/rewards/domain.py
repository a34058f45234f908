"""Rewards as plain data: who may redeem what, what stock is left, what a refund restores.

Everything here is a pure function of values the service reads, with ``now``
passed in, so the catalog's answers ("Gold members only", "2 left", "limit of
1 a month reached") are tested without a database.

What each reward kind produces, and the steps its fulfilment goes through, are
its strategy's (``patron.flows.reward_kinds``); the rule for moving along such
steps lives here, shared by redemptions and gifts with purchase.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from patron.ledger.domain import ExpiryPolicy, Lot, LotState, lot_expiry
from patron.program.activation import member_value
from patron.program.cel import CelSyntaxError, ConditionError, compile_condition, make_context
from patron.program.compiled import instant
from patron.program.context import MemberContext, period_bounds
from patron.program.incentives import Reward

NOT_YET_AVAILABLE = "not_yet_available"
EXPIRED = "expired"
TIER_REQUIRED = "tier_required"
PLAN_REQUIRED = "plan_required"
CONDITION_NOT_MET = "condition_not_met"
LIMIT_REACHED = "limit_reached"
OUT_OF_STOCK = "out_of_stock"
INSUFFICIENT_POINTS = "insufficient_points"

# --------------------------------------------------------------------------- eligibility

@dataclass(frozen=True)
class Holders:
    """Tier levels and plans whose benefits name a reward: only their members redeem it."""

    tiers: frozenset[str] = frozenset()
    plans: frozenset[str] = frozenset()


def benefit_holders(document: Any) -> dict[str, Holders]:
    """Rewards that tier levels or paid plans list in ``benefits.rewards``.

    Such a reward is exclusive: a member redeems it only at one of those levels
    or with one of those plans, on top of the reward's own ``eligibility``.
    """
    tiers: dict[str, set[str]] = defaultdict(set)
    plans: dict[str, set[str]] = defaultdict(set)
    for level in document.tiers.levels if document.tiers else ():
        for reward_id in level.benefits.rewards:
            tiers[reward_id].add(level.id)
    for plan in document.memberships:
        for reward_id in plan.benefits.rewards:
            plans[reward_id].add(plan.id)
    return {reward_id: Holders(frozenset(tiers[reward_id]), frozenset(plans[reward_id]))
            for reward_id in set(tiers) | set(plans)}


def window_refusal(reward: Reward, now: datetime, zone: ZoneInfo) -> str | None:
    """A plain date is a whole day in the program timezone, like earn rules' windows."""
    starts = instant(reward.valid_from, zone, end=False)
    ends = instant(reward.valid_until, zone, end=True)
    if starts is not None and now < starts:
        return NOT_YET_AVAILABLE
    if ends is not None and now >= ends:
        return EXPIRED
    return None


def needs_tier(reward: Reward, holders: Holders | None) -> bool:
    return bool(reward.eligibility.tiers or (holders and holders.tiers))


def needs_plan(reward: Reward, holders: Holders | None) -> bool:
    return bool(reward.eligibility.plans or (holders and holders.plans))


def membership_refusal(reward: Reward, holders: Holders | None, tier: str | None,
                       plan: str | None) -> str | None:
    """The reward's own tier and plan lists must both hold; a benefit-exclusive reward
    also needs a level or plan that lists it (either one will do)."""
    eligibility = reward.eligibility
    if eligibility.tiers and tier not in eligibility.tiers:
        return TIER_REQUIRED
    if eligibility.plans and plan not in eligibility.plans:
        return PLAN_REQUIRED
    if holders and tier not in holders.tiers and plan not in holders.plans:
        return TIER_REQUIRED if holders.tiers else PLAN_REQUIRED
    return None


@dataclass(frozen=True)
class MemberInputs:
    """What ``member`` in an eligibility condition is built from (see ``activation``)."""

    member: MemberContext
    local: datetime
    counted_types: tuple[tuple[str, str], ...] = ()


def condition_holds(source: str, inputs: MemberInputs) -> bool:
    """``eligibility.when`` over ``member``; a condition that fails to run does not hold."""
    try:
        condition = compile_condition(source)
        return condition.evaluate_nested(make_context({"member": member_value(inputs)}))
    except (CelSyntaxError, ConditionError):
        return False


def period_start(period: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    return period_bounds(period, now, zone)[0]  # type: ignore[arg-type]


def used_in_period(reward: Reward, redeemed_at: Sequence[datetime], now: datetime,
                   zone: ZoneInfo) -> int:
    """The member's standing redemptions of ``reward`` in its limit's calendar period."""
    limit = reward.limit_per_member
    if limit is None:
        return 0
    start, end = period_bounds(limit.period, now, zone)
    return sum(1 for at in redeemed_at
               if (start is None or at >= start) and (end is None or at < end))


@dataclass(frozen=True)
class Standing:
    """One member's facts about one reward, as the service read them."""

    tier: str | None = None
    plan: str | None = None
    condition: bool | None = None
    """``eligibility.when`` result; None when the reward has no condition."""
    used: int = 0
    stock_left: int | None = None
    """None: unlimited."""
    available: int = 0


def refusals(reward: Reward, holders: Holders | None, standing: Standing, now: datetime,
             zone: ZoneInfo) -> list[str]:
    """Every reason the member cannot redeem now, most fundamental first.

    The order is what a member should hear first: a reward that is not on offer,
    then one they do not qualify for, then what stands between them and it today
    (their limit, the stock, their points).
    """
    found = []
    if (window := window_refusal(reward, now, zone)) is not None:
        found.append(window)
    if (membership := membership_refusal(reward, holders, standing.tier, standing.plan)):
        found.append(membership)
    if standing.condition is False:
        found.append(CONDITION_NOT_MET)
    limit = reward.limit_per_member
    if limit is not None and standing.used >= limit.count:
        found.append(LIMIT_REACHED)
    if standing.stock_left is not None and standing.stock_left <= 0:
        found.append(OUT_OF_STOCK)
    if standing.available < reward.cost_points:
        found.append(INSUFFICIENT_POINTS)
    return found


def eligible(reasons: Sequence[str]) -> bool:
    """Whether a member may redeem, points aside: no reason but their points (the
    catalog's ``eligible``; ``affordable`` says whether they have the points)."""
    return all(reason == INSUFFICIENT_POINTS for reason in reasons)


# --------------------------------------------------------------------------- stock

def remaining_after(stock: int, redeemed: int) -> int:
    """Units left when the document offers ``stock`` and redemptions hold ``redeemed``.

    A version that lowers stock below what is already redeemed leaves none
    (never a negative count); raising it again frees exactly what it adds above
    the redeemed units, since ``redeemed`` is kept apart from ``remaining``.
    """
    return max(stock - redeemed, 0)


def stock_left(document_stock: int | None, row: Any) -> int | None:
    """What a reader sees: the stored row brought in line with the current document."""
    if document_stock is None:
        return None
    if row is None:
        return document_stock
    if row.stock == document_stock:
        return row.remaining
    return remaining_after(document_stock, row.redeemed)


# --------------------------------------------------------------------------- refunds

@dataclass(frozen=True)
class Refund:
    """Where a cancelled redemption's points go back.

    ``restore`` puts points back into the lots they were taken from (or the copy
    of a lot a household transfer made), which keeps their earn date and expiry;
    ``new_lots`` hold what cannot go back: points of a lot that has expired since
    get a fresh expiry (the member did not let them lapse; the redemption held
    them), points of a lot that left the account keep their original expiry.
    """

    restore: tuple[tuple[int, int], ...]
    new_lots: tuple[Lot, ...] = field(default_factory=tuple)

    @property
    def points(self) -> int:
        return sum(p for _, p in self.restore) + sum(lot.points for lot in self.new_lots)


def _expired(lot: Lot, now: datetime) -> bool:
    return lot.state == LotState.EXPIRED or (lot.expires_at is not None
                                              and lot.expires_at <= now)


def plan_refund(taken: Sequence[tuple[int, int]], home: Mapping[int, Lot | None],
                original: Mapping[int, Lot], now: datetime, policy: ExpiryPolicy) -> Refund:
    """``taken``: ``(lot id, points taken)`` of the spend; ``home[lot id]``: the lot of
    the refunded account that holds what is left of it now, or None."""
    restore: dict[int, int] = defaultdict(int)
    by_expiry: dict[datetime | None, int] = defaultdict(int)
    for lot_id, points in taken:
        lot = home.get(lot_id)
        if lot is not None and lot.state in (LotState.OPEN, LotState.CLOSED) \
                and not _expired(lot, now):
            # A lot never holds more than it was created with (a household
            # transfer's copy starts at what was left when it moved).
            back = min(points, lot.points - lot.remaining - restore.get(lot.id, 0))
            if back > 0:
                restore[lot.id] += back
            points -= max(back, 0)
            if points == 0:
                continue
        source = original[lot_id]
        expiry = lot_expiry(now, policy) if _expired(source, now) else source.expires_at
        by_expiry[expiry] += points
    new_lots = tuple(Lot(0, points, points, LotState.OPEN, now, now, expiry)
                     for expiry, points in sorted(by_expiry.items(),
                                                  key=lambda item: (item[0] is None,
                                                                    item[0] or now)))
    return Refund(tuple(sorted(restore.items())), new_lots)


# --------------------------------------------------------------------------- fulfilment

FULFILMENT_NOT_TRACKED = "fulfilment_not_tracked"
FULFILMENT_BACKWARDS = "fulfilment_backwards"
REDEMPTION_CANCELLED = "redemption_cancelled"


def step_refusal(steps: Sequence[str], active: bool, current: str, wanted: str) -> str | None:
    """Why a redemption's fulfilment cannot move from ``current`` to ``wanted``.

    ``steps`` are the way its reward kind goes, in order (none for a kind that is
    done when redeemed): staff move it on, never back. None when it can move, or
    when it is there already (a retried request).
    """
    if wanted not in steps:
        return FULFILMENT_NOT_TRACKED
    if not active:
        return REDEMPTION_CANCELLED
    if steps.index(wanted) < steps.index(current):
        return FULFILMENT_BACKWARDS
    return None


def gone_out(steps: Sequence[str], fulfilment: str) -> bool:
    """Whether the product went out to the member: any step past the first. A gift
    sent or an experience attended is the member's, so cancelling it would give the
    points back as well."""
    return fulfilment in steps[1:]


# --------------------------------------------------------------------------- gifts with purchase

GIFT_FULFILMENT: tuple[str, ...] = ("pending_fulfilment", "sent", "delivered")
"""A gift's way to the member, in order: waiting to be sent, sent, delivered.
Staff move a gift on, never back; a gift earn rules gave starts where a gift
redemption does."""
GIFT_CANCELLED = "cancelled"
GIFT_GRANTED = "granted"
GIFT_CANCELLED_REFUSAL = "gift_cancelled"


def fulfilment_refusal(status: str, current: str, wanted: str) -> str | None:
    """Why a gift cannot move from ``current`` to ``wanted``; None when it can.

    Asking for the state it is already in is no refusal (a retried request), so
    only a cancelled gift or a step back is refused: the steps of a redeemed gift.
    """
    if status != GIFT_GRANTED:
        return GIFT_CANCELLED_REFUSAL
    return step_refusal(GIFT_FULFILMENT, True, current, wanted)


@dataclass(frozen=True)
class GiftCancellation:
    """What cancelling a gift grant does, given how far the gift has gone."""

    fulfilment: str
    """The grant's fulfilment afterwards."""
    restock: bool
    """Its unit goes back on the shelf."""

    @property
    def already_sent(self) -> bool:
        return not self.restock


def cancel_gift(fulfilment: str) -> GiftCancellation:
    """A gift still waiting to be sent is simply not sent: its unit goes back on
    the shelf and its fulfilment reads cancelled, as a cancelled redemption's does.

    A gift already sent (or delivered) is with the member. The grant is cancelled
    all the same, since the order no longer earns it, but the unit does not go
    back in stock (nobody put it back on the shelf) and its fulfilment keeps saying
    where it went, so staff can ask for it back.
    """
    if fulfilment == GIFT_FULFILMENT[0]:
        return GiftCancellation(GIFT_CANCELLED, restock=True)
    return GiftCancellation(fulfilment, restock=False)
