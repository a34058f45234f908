"""Simulation: replay history through a draft program and see what it would cost.

Before publishing, a marketer wants to know what a change does: how many points
each rule would issue, what that costs in money, who benefits, who gets nothing,
and whether one rule produces outsized awards. The simulator replays events (in
the API's shape) through the same ``evaluate`` the live service uses, keeping
member counts, limit usage, budgets and orders in memory. Nothing is written.

Events are expected in ``occurred_at`` order, as history is exported; limits and
"first purchase" depend on it. Budgets count points as issued (a later return
does not give budget back), as a live budget would.

Gift rules are reported in units of their catalog gift, per rule and per reward:
given, cancelled by returns, and refused for want of stock. The replay starts
from the document's full ``stock`` (a return puts the unit back), so a draft
that gives more gifts than the catalog holds shows it.

Tiers and paid plans are *given*, not replayed. A ``StandingLookup`` says which
tier and plan a member held at an event's ``occurred_at`` (the caller reads it
from what Patron recorded); the simulated document then decides what that
standing is worth, as the live service does with the current one: its ladder
gives ``member.tier`` and the tier's ``earn_multiplier``, its plan gives the
``membership`` multiplier and lifts the tier to the plan's ``tier_floor``. A
member with no recorded tier stands on the ladder's first level, where every
member starts. A recorded tier the document does not have runs the event
without a tier, and a plan it does not offer without a plan; both are counted
(``tiers_not_in_document``, ``plans_not_in_document``), so a draft that drops or
renames a level shows what that does instead of failing. Tiers are *not*
recomputed from the replayed purchases: a draft that changes thresholds or
tier points moves nobody in the replay. Points are also reported per tier
(``tiers``), so the cost of a tier multiplier is visible on its own.
"""

from __future__ import annotations

import gc
import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from patron.errors import PatronError
from patron.program.catalog import RETURN
from patron.program.compiled import CompiledProgram, compile_program
from patron.program.context import (
    EventContext,
    InvalidEvent,
    MemberContext,
    MemberProfile,
    PeriodUsage,
    Purchase,
    parse_purchase,
    period_key,
)
from patron.program.document import ProgramDocument
from patron.program.engine import Award, Evaluation, evaluate, out_of_stock
from patron.program.money import points_value_minor
from patron.program.returns import ReturnOfUnknownOrder, plan_clawback, return_lines
from patron.program.simulate_campaigns import CampaignReport, CampaignTally
from patron.program.simulate_engagement import EngagementReport, EngagementTally
from patron.program.standing import Placing, Standing, StandingLookup, place

_ZERO = PeriodUsage()


@dataclass
class RuleReport:
    rule_id: str
    rule_name: str
    points_issued: int = 0
    points_clawed_back: int = 0
    awards: int = 0
    members_affected: int = 0
    capped_awards: int = 0
    limit_reached: int = 0
    budget_exhausted: int = 0
    cost_minor: int = 0
    cashback: bool = False
    """The rule gives money (minor units) into the wallet: its "points" are money."""
    gift: str | None = None
    """The catalog gift the rule gives: its "points" are units of it (no money cost)."""
    out_of_stock: int = 0
    """Events that would have had the gift but found none left."""

    @property
    def net_points(self) -> int:
        return self.points_issued - self.points_clawed_back


@dataclass
class TierReport:
    """Points issued to members while they held one tier (``None``: without a tier)."""

    tier_id: str | None
    tier_name: str
    events: int = 0
    members: int = 0
    points_issued: int = 0
    points_clawed_back: int = 0
    """Taken back by returns of orders earned at this tier."""
    cost_minor: int = 0

    @property
    def net_points(self) -> int:
        return self.points_issued - self.points_clawed_back


NO_TIER = "no tier"


@dataclass(frozen=True)
class LargestAward:
    points: int
    rule_id: str
    member: str
    event_id: str | None
    explanation: str


@dataclass
class GiftReport:
    """Units of one catalog gift that gift rules gave in the replay."""

    reward_id: str
    reward_name: str
    stock: int | None
    """The document's stock the replay started from; None: unlimited."""
    given: int = 0
    cancelled: int = 0
    """Taken back by returns that took the order below what the rule needed."""
    out_of_stock: int = 0

    @property
    def net(self) -> int:
        return self.given - self.cancelled


@dataclass
class SimulationReport:
    program_name: str
    currency: str
    point_value_minor: Decimal
    events_read: int = 0
    events_evaluated: int = 0
    events_skipped: dict[str, int] = field(default_factory=dict)
    members_seen: int = 0
    members_earning_nothing: int = 0
    members_earning_nothing_sample: list[str] = field(default_factory=list)
    points_issued: int = 0
    points_clawed_back: int = 0
    cost_minor: int = 0
    rules: list[RuleReport] = field(default_factory=list)
    largest_awards: list[LargestAward] = field(default_factory=list)
    gifts: list[GiftReport] = field(default_factory=list)
    tiers: list[TierReport] = field(default_factory=list)
    """Points per tier, the document's ladder in order, then events without a tier."""
    tiers_not_in_document: dict[str, int] = field(default_factory=dict)
    """Events run without a tier because the document lacks the recorded one, by tier id."""
    plans_not_in_document: dict[str, int] = field(default_factory=dict)
    """Events run without a plan because the document lacks the recorded one, by plan id."""
    elapsed_seconds: float = 0.0
    campaigns: list[CampaignReport] = field(default_factory=list)
    """What each campaign's rules would issue and cost, and its budget cut-offs."""
    engagement: list[EngagementReport] = field(default_factory=list)
    """What each badge, challenge and streak would give and cost; their points are in
    ``points_issued`` and their cost in ``cost_minor``."""

    @property
    def net_points(self) -> int:
        return self.points_issued - self.points_clawed_back

    @property
    def events_per_second(self) -> float:
        return self.events_read / self.elapsed_seconds if self.elapsed_seconds else 0.0


_Order = tuple[Purchase, tuple[Award, ...], dict[int, int], str | None]
"""An order that earned: the purchase, its awards, units returned per line, and the
tier it was earned at (its returns are taken from that tier's figures)."""


class _Member:
    """A member's replay state. ``context.counts`` is the live ``counts`` dict, bumped
    after each event, so the engine always sees the counts from before the event.
    ``context`` is rebuilt only when the member's placing changes."""

    __slots__ = ("key", "known", "context", "counts", "placing", "usage", "issued", "orders",
                 "campaigns")

    def __init__(self, key: str, known: MemberContext,
                 campaigns: frozenset[str] = frozenset()) -> None:
        self.key = key
        self.known = known
        self.campaigns = campaigns
        self.counts: dict[str, int] = dict(known.counts)  # events before the replay
        self.placing: Placing | None = None
        self.context = MemberContext(known.id, known.profile, known.tier, self.counts,
                                     campaigns=campaigns)
        self.usage: dict[tuple[str, str], list[int]] = {}
        self.issued = 0
        self.orders: dict[str, _Order] = {}

    def place(self, placing: Placing) -> MemberContext:
        if placing is not self.placing:
            self.placing = placing
            self.context = MemberContext(self.known.id, self.known.profile, placing.tier,
                                         self.counts, placing.multipliers,
                                         campaigns=self.campaigns)
        return self.context


class _UsageView:
    """Limits' view of one member's in-memory usage, for the periods of one event."""

    __slots__ = ("budget", "campaigns", "keys", "usage")

    def __init__(self, usage: dict[tuple[str, str], list[int]], keys: dict[str, str],
                 budget: dict[str, int], campaigns: CampaignTally) -> None:
        self.usage, self.keys, self.budget = usage, keys, budget
        self.campaigns = campaigns

    def member_usage(self, rule_id: str, period: str) -> PeriodUsage:
        used = self.usage.get((rule_id, self.keys[period]))
        return PeriodUsage(used[0], used[1]) if used else _ZERO

    def budget_used(self, rule_id: str) -> int:
        return self.budget.get(rule_id, 0)

    def campaign_used(self, campaign_id: str) -> tuple[int, int]:
        return self.campaigns.campaign_used(campaign_id)


class Simulator:
    """Replays events through a draft program; ``run`` returns a ``SimulationReport``.

    ``profiles`` gives members' profiles (by member key: ``id:<id>`` or
    ``<identity type>:<value>``); members without one are evaluated with an empty
    profile, so birthday rules only fire for members whose birthdate is known.
    ``standing`` gives each member's recorded tier and plan at each event (see
    ``Standing``); without it a member has the tier of their profile's context, or
    none recorded (the ladder's first level), and no plan.
    """

    def __init__(self, document: ProgramDocument, *, version: int = 0,
                 profiles: Mapping[str, MemberContext | MemberProfile] | None = None,
                 standing: StandingLookup | None = None,
                 top_n: int = 10, progress: Callable[[int], None] | None = None,
                 progress_every: int = 10_000,
                 campaigns: Callable[[str], frozenset[str]] | None = None) -> None:
        self.program: CompiledProgram = compile_program(document)
        self.campaigns = campaigns
        """Member key → ids of the campaigns whose treatment the member is in."""
        self.campaign_tally = CampaignTally(document)
        self.engagement = EngagementTally(document)
        """Badges, challenges and streaks; the caller may set its ``held_out`` and ``held``."""
        every_rule = [*document.earn_rules, *(r for c in document.campaigns
                                               for r in c.earn_rules)]
        self.version = version
        self.profiles = profiles or {}
        self.standing = standing
        self.tiers = document.tiers
        self.plans = {plan.id: plan for plan in document.memberships}
        self.placings: dict[Standing, Placing] = {}
        self.tier_reports: dict[str | None, TierReport] = {
            level.id: TierReport(level.id, level.name)
            for level in (document.tiers.levels if document.tiers else ())}
        self.tier_members: dict[str | None, set[str]] = {
            tier: set() for tier in self.tier_reports}
        self.missing_tiers: Counter[str] = Counter()
        self.missing_plans: Counter[str] = Counter()
        self.top_n = top_n
        self.progress = progress
        self.progress_every = progress_every
        self.members: dict[str, _Member] = {}
        self.budget: dict[str, int] = {}
        self.skipped: Counter[str] = Counter()
        self.read = 0
        self.evaluated = 0
        self.rules = {r.id: RuleReport(r.id, r.name, cashback=r.points.cashback_percent is not None,
                                       gift=r.gift)
                      for r in every_rule}
        catalog = {reward.id: (reward.name, reward.stock) for reward in document.rewards}
        self.gifts = {gift: GiftReport(gift, *catalog.get(gift, (gift, None)))
                      for gift in dict.fromkeys(r.gift for r in every_rule if r.gift)}
        self.stock = {reward_id: report.stock for reward_id, report in self.gifts.items()
                      if report.stock is not None}
        self.rule_members: dict[str, set[str]] = {r.id: set() for r in every_rule}
        self.largest: list[tuple[int, int, LargestAward]] = []
        self.sequence = 0
        self.budgeted = {r.id for r in every_rule if r.limits and r.limits.budget}
        self.limited = {r.id for r in every_rule if r.limits and r.limits.per_member}
        self.elapsed = 0.0

    def run(self, events: Iterable[Mapping[str, Any]]) -> SimulationReport:
        started = time.perf_counter()
        every, progress = self.progress_every, self.progress
        with _relaxed_gc():
            for event in events:
                self.feed(event)
                if progress is not None and self.read % every == 0:
                    progress(self.read)
        self.elapsed += time.perf_counter() - started
        if progress is not None:
            progress(self.read)
        return self.report()

    def feed(self, raw: Mapping[str, Any]) -> Evaluation | None:
        """Replay one event; None when it was skipped (counted in ``events_skipped``)."""
        self.read += 1
        try:
            event, member = self._event(raw), self._member(raw)
        except InvalidEvent as exc:
            self.skipped[exc.code] += 1
            return None
        if self.program.plan(event.type) is None:
            self.skipped["unknown_event_type"] += 1
            return None
        try:
            if event.type == RETURN:
                self._claw_back(event, member)
            evaluation = self._evaluate(event, member)
        except PatronError as exc:
            self.skipped[exc.code] += 1
            return None
        member.counts[event.type] = member.counts.get(event.type, 0) + 1
        if not self.engagement.empty:
            member.issued += self.engagement.feed(member.key, event, member.context,
                                                  self._purchase(event, evaluation))
        self.evaluated += 1
        return evaluation

    def _purchase(self, event: EventContext, evaluation: Evaluation) -> Purchase | None:
        """The event's purchase, for challenges that read its lines: as the engine parsed
        it, or parsed here when no earn rule needed it."""
        if evaluation.purchase is not None or event.type != "purchase":
            return evaluation.purchase
        try:
            return parse_purchase(event.data, self.program.settings.currency)
        except InvalidEvent:
            return None

    def _event(self, raw: Mapping[str, Any]) -> EventContext:
        occurred_at = raw.get("occurred_at")
        if isinstance(occurred_at, str):
            try:
                occurred_at = datetime.fromisoformat(occurred_at)
            except ValueError:
                raise InvalidEvent("occurred_at is not an ISO 8601 date-time") from None
        if not isinstance(occurred_at, datetime) or occurred_at.tzinfo is None:
            raise InvalidEvent("occurred_at must be a timezone-aware date-time")
        return EventContext(str(raw.get("type")), occurred_at, raw.get("data") or {},
                            raw.get("channel"), raw.get("id"))

    def _member(self, raw: Mapping[str, Any]) -> _Member:
        key = member_key(raw.get("member"))
        member = self.members.get(key)
        if member is None:
            member = self.members[key] = _Member(
                key, self._context(key),
                self.campaigns(key) if self.campaigns is not None else frozenset())
        return member

    def _context(self, key: str) -> MemberContext:
        known = self.profiles.get(key)
        if isinstance(known, MemberContext):
            return known
        return MemberContext(key, known if isinstance(known, MemberProfile) else MemberProfile())

    def _evaluate(self, event: EventContext, member: _Member) -> Evaluation:
        plan = self.program.plans[event.type]
        keys: dict[str, str] = {}
        if plan.periods:
            local = event.occurred_at.astimezone(self.program.zone)
            keys = {period: period_key(period, local) for period in plan.periods}
        placing = member.placing
        if placing is None or self.standing is not None:
            placing = self._placing(member, event.occurred_at)
        evaluation = evaluate(self.program, self.version, event, member.place(placing),
                              _UsageView(member.usage, keys, self.budget, self.campaign_tally),
                              now=event.occurred_at)
        if evaluation.gifts:
            evaluation = out_of_stock(evaluation, [t.rule_id for t in evaluation.gifts
                                                   if not self._take(t.reward_id)])
        self._record(event, member, evaluation, keys)
        if evaluation.campaign_spend or evaluation.notes:
            self.campaign_tally.record(member.key, evaluation)
        return evaluation

    def _placing(self, member: _Member, at: datetime) -> Placing:
        """The member's standing at ``at``, as this document sees it (cached per standing)."""
        if self.standing is not None:
            standing = self.standing(member.key, at)
        else:
            standing = Standing(member.known.tier)
        placing = self.placings.get(standing)
        if placing is None:
            placing = self.placings[standing] = place(self.tiers, self.plans, standing)
        return placing

    def _take(self, reward_id: str | None) -> bool:
        """One unit of a gift from the replay's stock; False when none is left."""
        left = self.stock.get(reward_id or "")
        if left is None:
            return True
        if left <= 0:
            return False
        self.stock[reward_id or ""] = left - 1
        return True

    def _record(self, event: EventContext, member: _Member, evaluation: Evaluation,
                keys: dict[str, str]) -> None:
        tier, points = self._count_tier(member), 0
        for total in evaluation.totals:
            report = self.rules[total.rule_id]
            report.points_issued += total.points
            report.awards += 1
            report.capped_awards += total.capped_by is not None
            self.rule_members[total.rule_id].add(member.key)
            if total.rule_id in self.budgeted:
                self.budget[total.rule_id] = self.budget.get(total.rule_id, 0) + total.points
            if total.rule_id in self.limited:
                for period_name in keys.values():
                    used = member.usage.setdefault((total.rule_id, period_name), [0, 0])
                    used[0] += total.points
                    used[1] += 1
            member.issued += total.points
            if total.kind == "gift":
                self.gifts[total.reward_id or ""].given += 1
            elif total.kind != "cashback":  # money, reported in the rule's cost
                points += total.points
                self._keep_largest(total.points, total.rule_id, member.key, event.id,
                                   total.explanation)
        if points:
            self.tier_reports[tier].points_issued += points
        for note in evaluation.notes:
            if note.code in ("limit_reached", "budget_exhausted", "out_of_stock"):
                setattr(self.rules[note.rule_id], note.code,
                        getattr(self.rules[note.rule_id], note.code) + 1)
            if note.code == "out_of_stock":
                self.gifts[self.rules[note.rule_id].gift or ""].out_of_stock += 1
        purchase = evaluation.purchase
        if purchase is not None and evaluation.awards:
            member.orders[purchase.order_id] = (purchase, evaluation.awards, {}, tier)

    def _count_tier(self, member: _Member) -> str | None:
        """Count the event for the tier it ran at (``_record`` adds its points)."""
        placing = member.placing
        assert placing is not None
        tier = placing.tier
        report = self.tier_reports.get(tier)
        if report is None:
            report = self.tier_reports[tier] = TierReport(tier, tier or NO_TIER)
            self.tier_members[tier] = set()
        report.events += 1
        self.tier_members[tier].add(member.key)
        if placing.missing_tier is not None:
            self.missing_tiers[placing.missing_tier] += 1
        if placing.missing_plan is not None:
            self.missing_plans[placing.missing_plan] += 1
        return tier

    def _keep_largest(self, points: int, rule_id: str, member: str, event_id: str | None,
                      explanation: str) -> None:
        if len(self.largest) >= self.top_n and points <= self.largest[0][0]:
            return
        self.sequence -= 1  # earlier awards win ties
        entry = (points, self.sequence, LargestAward(points, rule_id, member, event_id,
                                                     explanation))
        if len(self.largest) < self.top_n:
            heapq.heappush(self.largest, entry)
        else:
            heapq.heapreplace(self.largest, entry)

    def _claw_back(self, event: EventContext, member: _Member) -> None:
        order = member.orders.get(str(event.data.get("order_id")))
        if order is None:
            raise ReturnOfUnknownOrder("no purchase with points for this order in the replay")
        purchase, awards, returned, tier = order
        lines = return_lines(event.data, purchase, returned)
        for clawback in plan_clawback(awards, purchase, lines, returned):
            report = self.rules[clawback.rule_id]
            report.points_clawed_back += clawback.points
            if not report.cashback and report.gift is None:
                self.tier_reports[tier].points_clawed_back += clawback.points
            if report.gift is not None:
                self.gifts[report.gift].cancelled += clawback.points
                if report.gift in self.stock:
                    self.stock[report.gift] += clawback.points
        for line in lines:
            returned[line.line_index] = returned.get(line.line_index, 0) + line.quantity

    def report(self) -> SimulationReport:
        settings = self.program.settings
        value = settings.point_value_minor
        for rule_id, report in self.rules.items():
            report.members_affected = len(self.rule_members[rule_id])
            report.cost_minor = (report.net_points if report.cashback
                                 else 0 if report.gift is not None
                                 else points_value_minor(report.net_points, value))
        for tier_id, tier_report in self.tier_reports.items():
            tier_report.members = len(self.tier_members.get(tier_id, ()))
            tier_report.cost_minor = points_value_minor(tier_report.net_points, value)
        nothing = [m.key for m in self.members.values() if m.issued == 0]
        points = [r for r in self.rules.values() if not r.cashback and r.gift is None]
        issued = sum(r.points_issued for r in points) + self.engagement.points_issued
        clawed = sum(r.points_clawed_back for r in points)
        money = (sum(r.net_points for r in self.rules.values() if r.cashback)
                 + self.engagement.coupon_money)  # cashback, and coupons rewards give
        return SimulationReport(
            program_name=self.program.document.name, currency=settings.currency,
            point_value_minor=value, events_read=self.read, events_evaluated=self.evaluated,
            events_skipped=dict(self.skipped), members_seen=len(self.members),
            members_earning_nothing=len(nothing), members_earning_nothing_sample=nothing[:20],
            points_issued=issued, points_clawed_back=clawed,
            cost_minor=points_value_minor(issued - clawed, value) + money,
            rules=list(self.rules.values()),
            largest_awards=[entry[2] for entry in sorted(self.largest, reverse=True)],
            gifts=list(self.gifts.values()), tiers=self._tier_list(),
            tiers_not_in_document=dict(self.missing_tiers),
            plans_not_in_document=dict(self.missing_plans), elapsed_seconds=self.elapsed,
            campaigns=self.campaign_tally.report(), engagement=self.engagement.report())

    def _tier_list(self) -> list[TierReport]:
        """The ladder in order, then events that ran without a tier (if any did)."""
        ladder = [r for r in self.tier_reports.values() if r.tier_id is not None]
        untiered = self.tier_reports.get(None)
        return ladder + ([untiered] if untiered is not None else [])


@contextmanager
def _relaxed_gc() -> Iterator[None]:
    """Collect garbage less often during a replay.

    A replay allocates millions of short-lived objects that form no cycles while
    holding a large, long-lived member state; the collector's frequent scans of
    that state cost about a third of the run. The previous thresholds are
    restored afterwards.
    """
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def member_key(ref: Any) -> str:
    """``{"id": 42}`` -> ``id:42``; ``{"identity": {"type": "email", "value": "A@x"}}`` ->
    ``email:a@x`` (trimmed, lower-cased, so one customer is one member in a replay)."""
    if type(ref) is not dict and not isinstance(ref, Mapping):
        raise InvalidEvent("member must be {id} or {identity}")
    if ref.get("id") is not None:
        return f"id:{ref['id']}"
    identity = ref.get("identity")
    if isinstance(identity, Mapping) and identity.get("value") is not None:
        return f"{identity.get('type', 'external')}:{str(identity['value']).strip().lower()}"
    raise InvalidEvent("member must be {id} or {identity}")
