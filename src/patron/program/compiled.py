"""A program document turned into what evaluation needs, once per published version.

Rules are grouped by the event type they earn on and sorted into evaluation
order, conditions are compiled, validity windows are resolved to instants in the
program timezone, rates become exact integer ratios, and the fields conditions
read are merged into one read set per event type. Evaluating an event then only
touches the rules of its type.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from patron.program.activation import Getter, compile_reads
from patron.program.catalog import (
    BUILT_IN_EVENT_TYPES,
    PURCHASE,
    ZERO_VALUES,
    count_field,
    event_fields,
)
from patron.program.cel import Condition, ReadSet, compile_condition, merge_reads
from patron.program.document import (
    CampaignBudget,
    EarnRule,
    Limits,
    Period,
    PeriodLimit,
    ProgramDocument,
    Settings,
)
from patron.program.money import as_ratio, minor_per_major


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: EarnRule
    order: int
    id: str
    name: str
    condition: Condition | None
    kind: str
    multiplier: bool
    per_line: bool
    numerator: int
    denominator: int
    rounding: str
    starts: datetime | None
    ends: datetime | None
    pending: bool
    exclusive: bool
    min_spend: int | None
    limits: Limits | None
    member_limits: tuple[tuple[Period, PeriodLimit], ...]
    categories: frozenset[str] | None
    skus: frozenset[str] | None
    targets: frozenset[str] | None
    explain: str | None
    benefit: str | None = None
    """A benefit multiplier's source ("tier" or "membership"): its factor is the member's."""
    tier_points: bool = False
    gift: str | None = None
    """A gift rule's catalog reward id; ``gift_name`` is its name in this version."""
    gift_name: str | None = None
    campaign: str | None = None
    """A campaign's rule: only the campaign's treatment members earn by it, inside the
    campaign's window (``starts``/``ends`` are the rule's window within it)."""

    def in_window(self, at: datetime) -> bool:
        return (self.starts is None or at >= self.starts) and (self.ends is None or at < self.ends)

    def line_selected(self, sku: str, category: str) -> bool:
        """The declarative ``lines`` filter: by SKU or category, no CEL needed."""
        if self.categories is None and self.skus is None:
            return True
        return bool((self.categories and category in self.categories)
                    or (self.skus and sku in self.skus))


_FEATURE_ROOTS = frozenset({("member", "features"), ("member", "tags")})


@dataclass(frozen=True, slots=True)
class EventPlan:
    event_type: str
    earn: tuple[CompiledRule, ...]
    multipliers: tuple[CompiledRule, ...]
    event_reads: tuple[tuple[str, Getter, Any], ...]
    nested_reads: dict[str, Any]
    line_reads: ReadSet
    line_conditions: tuple[CompiledRule, ...]
    data_defaults: dict[str, Any]
    periods: tuple[Period, ...]
    gifts: tuple[CompiledRule, ...] = ()
    """Gift rules, evaluated after the points passes (see ``engine``)."""
    reads_counts: bool = False
    """Whether a condition reads the member's event counts (``member.purchase_count``, or
    ``member`` whole), which the earning flow then counts for the batch's members."""

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self.earn + self.multipliers + self.gifts

    @property
    def needs_context(self) -> bool:
        return bool(self.event_reads or self.nested_reads or self.line_conditions)

    @property
    def needs_features(self) -> bool:
        """Whether a condition reads ``member.features`` or ``member.tags``, which the
        earning flow then loads for the batch's members."""
        return any(path[:2] in _FEATURE_ROOTS or path == ("member",)
                   for rule in self.rules if rule.condition is not None
                   for path in rule.condition.paths)

    @property
    def needs_recommended(self) -> bool:
        """Whether a condition reads ``member.recommended``, which the earning flow then
        loads for the batch's members (one statement)."""
        return any(path[:2] == ("member", "recommended") or path == ("member",)
                   for rule in self.rules if rule.condition is not None
                   for path in rule.condition.paths)

    def usage_keys(self) -> tuple[tuple[str, Period], ...]:
        """The (rule id, period) usage an evaluation of this event type may ask for,
        so a service reads only those from the ledger."""
        return tuple((r.id, period) for r in self.rules for period, _ in r.member_limits)

    def budgeted_rules(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules if r.limits and r.limits.budget is not None)


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """A campaign as evaluation needs it: its window as instants and its budget."""

    id: str
    name: str
    starts: datetime
    ends: datetime
    budget: CampaignBudget | None
    point_value: Decimal

    def running(self, at: datetime) -> bool:
        return self.starts <= at < self.ends


@dataclass(frozen=True, slots=True)
class CompiledProgram:
    document: ProgramDocument
    settings: Settings
    zone: ZoneInfo
    minor_per_major: int
    counted_types: tuple[tuple[str, str], ...]
    plans: dict[str, EventPlan]
    campaigns: dict[str, CampaignPlan] = field(default_factory=dict)
    """Active campaigns by id."""

    def running_campaigns(self, at: datetime) -> list[str]:
        return [c.id for c in self.campaigns.values() if c.running(at)]

    def plan(self, event_type: str) -> EventPlan | None:
        return self.plans.get(event_type)


def compile_program(document: ProgramDocument) -> CompiledProgram:
    """Compile (and remember on the document) everything evaluation needs.

    Meant for documents that passed ``validate_document``; a condition that does
    not parse raises ``CelSyntaxError`` here.
    """
    cached = document._compiled
    if isinstance(cached, CompiledProgram):
        return cached
    settings = document.settings
    zone = settings.zone
    declared = document.declared_fields()
    types = sorted(set(BUILT_IN_EVENT_TYPES) | set(declared))
    gift_names = {reward.id: reward.name for reward in document.rewards}
    rules = [_compile_rule(rule, i, settings, zone, gift_names)
             for i, rule in enumerate(document.earn_rules) if rule.active]
    campaigns = _campaigns(document, zone)
    rules += _campaign_rules(document, campaigns, len(document.earn_rules), gift_names)
    counted = {count_field(t): t for t in types}
    plans = {t: _plan(t, [r for r in rules if r.rule.on == t], declared, counted)
             for t in types}
    program = CompiledProgram(document, settings, zone, minor_per_major(settings.currency),
                              tuple((t, count_field(t)) for t in types), plans, campaigns)
    document._compiled = program
    return program


def _campaigns(document: ProgramDocument, zone: ZoneInfo) -> dict[str, CampaignPlan]:
    value = document.settings.point_value_minor
    return {c.id: CampaignPlan(c.id, c.name, instant(c.starts, zone, end=False),
                               instant(c.ends, zone, end=True), c.budget, value)
            for c in document.campaigns if c.active}


def _campaign_rules(document: ProgramDocument, campaigns: dict[str, CampaignPlan],
                    order: int, gift_names: dict[str, str]) -> list[CompiledRule]:
    """Campaign rules, after the document's in document order, each kept to its
    campaign's window (a rule's own window, validated to lie inside it, narrows it)."""
    compiled = []
    settings, zone = document.settings, document.settings.zone
    for campaign in document.campaigns:
        plan = campaigns.get(campaign.id)
        for rule in campaign.earn_rules if plan is not None else ():
            if rule.active:
                base = _compile_rule(rule, order, settings, zone, gift_names)
                starts = max(base.starts or plan.starts, plan.starts)
                ends = min(base.ends or plan.ends, plan.ends)
                compiled.append(replace(base, starts=starts, ends=ends, campaign=campaign.id))
            order += 1
    return compiled


def _plan(event_type: str, rules: list[CompiledRule], declared: dict[str, dict[str, Any]],
          counted: dict[str, str]) -> EventPlan:
    ordered = sorted(rules, key=lambda r: (r.rule.priority, r.order))
    conditions = [r.condition for r in ordered if r.condition is not None]
    reads = merge_reads(*(c.reads for c in conditions))
    event_reads = reads.only({"event", "member"})
    fields = event_fields(event_type, declared) or {}
    periods = sorted({p for r in ordered for p, _ in r.member_limits})
    return EventPlan(
        event_type=event_type,
        earn=tuple(r for r in ordered if not r.multiplier and r.gift is None),
        multipliers=tuple(r for r in ordered if r.multiplier),
        event_reads=compile_reads(event_reads, counted),
        nested_reads=event_reads.nested,
        line_reads=reads.only({"line"}),
        line_conditions=tuple(r for r in ordered if r.per_line and r.condition is not None),
        data_defaults={name: ZERO_VALUES[kind] for name, kind in fields.items()
                       if kind != "timestamp"},
        periods=tuple(periods),
        gifts=tuple(r for r in ordered if r.gift is not None),
        reads_counts="member" in event_reads.nested or any(
            path[0] == "member" and (len(path) == 1 or path[1] in counted)
            for path in event_reads.flat.values()),
    )


def _compile_rule(rule: EarnRule, order: int, settings: Settings, zone: ZoneInfo,
                  gift_names: dict[str, str]) -> CompiledRule:
    action = rule.points
    kind = action.kind
    if kind == "gift":
        numerator, denominator = 1, 1  # one unit, whatever the order
    elif kind == "per_currency_unit":
        numerator, denominator = as_ratio(action.per_currency_unit)
    elif kind == "cashback":
        numerator, denominator = as_ratio(action.cashback_percent)
        denominator *= 100  # a percent of the minor units paid
    elif kind == "multiplier" and action.benefit_multiplier is not None:
        numerator, denominator = 0, 1  # the member's factor, at evaluation
    elif kind == "multiplier":
        m_num, m_den = as_ratio(action.multiplier)
        numerator, denominator = m_num - m_den, m_den  # the extra (m - 1) on top of base
    else:
        numerator, denominator = action.fixed, 1
    limits = rule.limits
    member_limits = tuple(limits.per_member.items()) if limits and limits.per_member else ()
    return CompiledRule(
        rule=rule, order=order, id=rule.id, name=rule.name,
        condition=compile_condition(rule.when) if rule.when else None,
        kind=kind, multiplier=kind == "multiplier", per_line=rule.per_line,
        numerator=numerator, denominator=denominator,
        rounding=action.rounding or settings.rounding,
        starts=instant(rule.valid_from, zone, end=False),
        ends=instant(rule.valid_until, zone, end=True),
        pending=_pending(rule, settings), exclusive=rule.exclusive,
        min_spend=rule.min_spend, limits=limits, member_limits=member_limits,
        categories=frozenset(rule.lines.categories) if rule.lines else None,
        skus=frozenset(rule.lines.skus) if rule.lines else None,
        targets=frozenset(action.of) if action.of is not None else None,
        explain=rule.explain, benefit=action.benefit_multiplier, tier_points=rule.tier_points,
        gift=action.gift, gift_name=gift_names.get(action.gift or "", action.gift),
    )


def _pending(rule: EarnRule, settings: Settings) -> bool:
    """Purchase points wait out the return window by default; behaviour points do not.
    A gift is a thing, not points: it is never pending."""
    if rule.gift is not None:
        return False
    if rule.pending is not None:
        return rule.pending
    return rule.on == PURCHASE and settings.pending_days > 0


def instant(bound: date | datetime | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """A plain date is a whole local day: from its midnight, or until the next midnight."""
    if bound is None or isinstance(bound, datetime):
        return bound
    day = bound + timedelta(days=1) if end else bound
    return datetime(day.year, day.month, day.day, tzinfo=zone)
