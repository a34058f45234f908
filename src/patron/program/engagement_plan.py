"""Badges, challenges and streaks as evaluation needs them, once per program version.

Like the earn rules (``patron.program.compiled``), the engagement sections are grouped
by the event type that can move them, their conditions compiled and their reads merged
into one read set per type, so an event touches only what its type can move and a
program without such sections costs an event nothing. Windows become instants in the
program's timezone, and each reward its cost to a budget: points at the point value,
and a coupon's fixed value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from patron.program.activation import Getter, compile_reads
from patron.program.catalog import (BUILT_IN_EVENT_TYPES, RECORDED_ALONE, ZERO_VALUES,
                                    count_field, event_fields)
from patron.program.cel import Condition, compile_condition, merge_reads
from patron.program.compiled import instant
from patron.program.context import EventContext, Purchase, period_key
from patron.program.document import ProgramDocument
from patron.program.engagement import (ONCE, Badge, ChallengeBudget, EngagementReward, Grace,
                                       Milestone)
from patron.program.limits import campaign_cost

MONEY_FIELDS = frozenset({("event", "data", "total"), ("event", "data", "discount"),
                          ("event", "data", "coupon_value"), ("line", "amount"),
                          ("line", "net_amount"), ("line", "discount")})
"""Fields a sum goal adds up as money (minor units), shown to members as money."""


@dataclass(frozen=True, slots=True)
class BadgePlan:
    """One thing to earn: a badge, or one level of it."""

    badge_id: str
    badge_name: str
    key: str
    name: str
    condition: Condition
    reward: EngagementReward | None

    @property
    def title(self) -> str:
        return self.badge_name if self.key == ONCE else f"{self.badge_name} ({self.name})"


@dataclass(frozen=True, slots=True)
class MeasurePlan:
    """Where a distinct or sum goal reads its values: ``event.…`` or each purchase line."""

    measure: str
    root: str
    path: tuple[str, ...]
    money: bool

    def values(self, event: EventContext, purchase: Purchase | None,
               defaults: Mapping[str, Any]) -> list[Any]:
        """The values the event brings (one per line for a line field); "" and absent
        values are none."""
        if self.root == "line":
            found = [getattr(line, self.path[0]) for line in purchase.lines] if purchase else []
        elif self.path[0] == "channel":
            found = [event.channel]
        else:
            found = [event.data.get(self.path[1], defaults.get(self.path[1]))]
        return [value for value in found if value is not None and value != ""
                and not isinstance(value, (dict, list))]

    def distinct(self, event: EventContext, purchase: Purchase | None,
                 defaults: Mapping[str, Any]) -> list[str]:
        return list(dict.fromkeys(str(v)[:200] for v in self.values(event, purchase, defaults)))

    def amount(self, event: EventContext, purchase: Purchase | None,
               defaults: Mapping[str, Any]) -> int:
        """What the event adds to a sum: whole numbers only (booleans and text add 0)."""
        return sum(v for v in self.values(event, purchase, defaults)
                   if type(v) is int and v > 0)


@dataclass(frozen=True, slots=True)
class ChallengePlan:
    id: str
    name: str
    starts: datetime
    ends: datetime
    every: str | None
    condition: Condition | None
    target: int
    unit: str
    measure: MeasurePlan | None
    reward: EngagementReward | None
    opt_in: bool
    holdout: Decimal
    budget: ChallengeBudget | None
    cost: tuple[int, int]
    """(points, money) its reward costs a budget."""

    def running(self, at: datetime) -> bool:
        return self.starts <= at < self.ends

    def period(self, at: datetime, zone: ZoneInfo) -> str:
        """The goal an event at ``at`` counts towards: its week or month, or "" for one
        goal over the whole window."""
        if self.every is None:
            return ""
        return period_key("week" if self.every == "week" else "month", at.astimezone(zone))


@dataclass(frozen=True, slots=True)
class StreakPlan:
    id: str
    name: str
    period: str
    condition: Condition | None
    grace: Grace | None
    milestones: tuple[Milestone, ...]
    """In the order a streak reaches them."""


@dataclass(frozen=True, slots=True)
class TypePlan:
    """What events of one type can move, and what their conditions read."""

    badges: tuple[BadgePlan, ...]
    challenges: tuple[ChallengePlan, ...]
    streaks: tuple[StreakPlan, ...]
    event_reads: tuple[tuple[str, Getter, Any], ...]
    nested_reads: dict[str, Any]
    data_defaults: dict[str, Any]
    needs_member: bool
    """A condition reads the member (profile, counts, tier): the caller loads them."""
    needs_features: bool
    """A condition reads ``member.features`` or ``member.tags``."""
    needs_recommended: bool = False
    """A condition reads ``member.recommended``."""


@dataclass(frozen=True, slots=True)
class EngagementPlan:
    zone: ZoneInfo
    currency: str
    points_name: str
    point_value: Decimal
    counted_types: tuple[tuple[str, str], ...]
    coupon_names: dict[str, str]
    types: dict[str, TypePlan]
    badges: dict[str, Badge]
    challenges: dict[str, ChallengePlan]
    streaks: dict[str, StreakPlan]

    def plan(self, event_type: str) -> TypePlan | None:
        return self.types.get(event_type)

    @property
    def item_ids(self) -> frozenset[str]:
        return frozenset((*self.badges, *self.challenges, *self.streaks))


def engagement_plan(document: ProgramDocument) -> EngagementPlan:
    """Compile (and remember on the document) the engagement of a validated document."""
    cached = document._engagement
    if isinstance(cached, EngagementPlan):
        return cached
    settings = document.settings
    zone = settings.zone
    declared = document.declared_fields()
    types = [t for t in sorted(set(BUILT_IN_EVENT_TYPES) | set(declared))
             if t not in RECORDED_ALONE]
    counted = {count_field(t): t for t in sorted(set(BUILT_IN_EVENT_TYPES) | set(declared))}
    coupons = {c.id: c for c in document.coupons}
    badges = [(b, step) for b in document.badges if b.active for step in _badge_steps(b)]
    challenges = [_challenge(c, zone, settings.point_value_minor, coupons)
                  for c in document.challenges if c.active]
    on = {c.id: set(c.on) for c in document.challenges}
    streaks = [_streak(s) for s in document.streaks if s.active]
    streak_on = {s.id: set(s.on) for s in document.streaks}
    plans = {}
    for event_type in types:
        plan = _type_plan(
            event_type,
            tuple(step for badge, step in badges if badge.on is None or event_type in badge.on),
            tuple(c for c in challenges if event_type in on[c.id]),
            tuple(s for s in streaks if event_type in streak_on[s.id]),
            event_fields(event_type, declared) or {}, counted)
        if plan is not None:
            plans[event_type] = plan
    compiled = EngagementPlan(
        zone, settings.currency, settings.points_name, settings.point_value_minor,
        tuple((t, field) for field, t in counted.items()),
        {c.id: c.name for c in document.coupons}, plans,
        {b.id: b for b in document.badges if b.active}, {c.id: c for c in challenges},
        {s.id: s for s in streaks})
    document._engagement = compiled
    return compiled


def _badge_steps(badge: Badge) -> list[BadgePlan]:
    return [BadgePlan(badge.id, badge.name, key, name, compile_condition(when), reward)
            for key, name, when, reward in badge.steps()]


def reward_cost(reward: EngagementReward | None, point_value: Decimal,
                coupons: Mapping[str, Any]) -> tuple[int, int]:
    """(points, money) a reward costs a budget: points priced as a campaign prices them,
    a coupon at its fixed money off (a percent coupon's value is not known until used)."""
    if reward is None:
        return 0, 0
    points, money = campaign_cost("earn", reward.points or 0, point_value)
    coupon = coupons.get(reward.coupon or "")
    if coupon is not None:
        money += coupon.discount.amount or 0
    return points, money


def _challenge(challenge: Any, zone: ZoneInfo, point_value: Decimal,
               coupons: Mapping[str, Any]) -> ChallengePlan:
    goal = challenge.goal
    measure = measure_of(goal.measure, goal.field) if goal.field else None
    return ChallengePlan(
        challenge.id, challenge.name, instant(challenge.starts, zone, end=False),
        instant(challenge.ends, zone, end=True), challenge.every,
        compile_condition(challenge.when) if challenge.when else None, goal.target,
        goal.unit or default_unit(goal.measure, measure), measure, challenge.reward,
        challenge.opt_in, challenge.holdout, challenge.budget,
        reward_cost(challenge.reward, point_value, coupons))


def measure_of(measure: str, field: str) -> MeasurePlan:
    """``event.data.store_id``, ``event.channel`` or ``line.category`` as a reader (the
    document's validation has checked the path)."""
    root, *rest = field.split(".")
    return MeasurePlan(measure, root, tuple(rest), (root, *rest) in MONEY_FIELDS)


def default_unit(measure: str, plan: MeasurePlan | None) -> str:
    if plan is None:
        return "times"
    last = plan.path[-1].replace("_", " ")
    return f"different {last} values" if measure == "distinct" else ("spent" if plan.money
                                                                       else last)


def _streak(streak: Any) -> StreakPlan:
    return StreakPlan(streak.id, streak.name, streak.period,
                      compile_condition(streak.when) if streak.when else None, streak.grace,
                      tuple(sorted(streak.milestones, key=lambda m: m.periods)))


_FEATURES = frozenset({("member", "features"), ("member", "tags")})


def _type_plan(event_type: str, badges: tuple[BadgePlan, ...],
               challenges: tuple[ChallengePlan, ...], streaks: tuple[StreakPlan, ...],
               fields: dict[str, Any], counted: dict[str, str]) -> TypePlan | None:
    if not (badges or challenges or streaks):
        return None
    conditions = [b.condition for b in badges] + [
        item.condition for item in (*challenges, *streaks) if item.condition is not None]
    reads = merge_reads(*(c.reads for c in conditions)).only({"event", "member"})
    paths = [path for c in conditions for path in c.paths]
    return TypePlan(
        badges, challenges, streaks, compile_reads(reads, counted), reads.nested,
        {name: ZERO_VALUES[kind] for name, kind in fields.items() if kind != "timestamp"},
        needs_member=any(path[0] == "member" for path in paths),
        needs_features=any(path[:2] in _FEATURES or path == ("member",) for path in paths),
        needs_recommended=any(path[:2] == ("member", "recommended") or path == ("member",)
                              for path in paths))
