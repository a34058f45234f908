"""A program document turned into what evaluation needs, once per published version.

Rules are grouped by the event type they earn on and sorted into evaluation
order, conditions are compiled, validity windows are resolved to instants in the
program timezone, rates become exact integer ratios, and the fields conditions
read are merged into one read set per event type. Evaluating an event then only
touches the rules of its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from patron.rules.catalog import (
    BUILT_IN_EVENT_TYPES,
    PURCHASE,
    ZERO_VALUES,
    count_field,
    event_fields,
)
from patron.rules.cel import Condition, PathTree, compile_condition, merge_trees
from patron.rules.document import EarnRule, PeriodLimit, ProgramDocument, Settings
from patron.rules.money import as_ratio, minor_per_major

Period = str


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: EarnRule
    order: int
    condition: Condition | None
    kind: str
    numerator: int
    denominator: int
    rounding: str
    starts: datetime | None
    ends: datetime | None
    pending: bool
    member_limits: tuple[tuple[Period, PeriodLimit], ...]
    categories: frozenset[str] | None
    skus: frozenset[str] | None
    targets: frozenset[str] | None

    @property
    def id(self) -> str:
        return self.rule.id

    @property
    def per_line(self) -> bool:
        return self.rule.per_line

    def in_window(self, at: datetime) -> bool:
        return (self.starts is None or at >= self.starts) and (self.ends is None or at < self.ends)

    def line_selected(self, sku: str, category: str) -> bool:
        """The declarative ``lines`` filter: by SKU or category, no CEL needed."""
        if self.categories is None and self.skus is None:
            return True
        return bool((self.categories and category in self.categories)
                    or (self.skus and sku in self.skus))


@dataclass(frozen=True, slots=True)
class EventPlan:
    event_type: str
    earn: tuple[CompiledRule, ...]
    multipliers: tuple[CompiledRule, ...]
    read_tree: PathTree
    line_tree: PathTree | None
    line_conditions: tuple[CompiledRule, ...]
    data_defaults: dict[str, Any]
    periods: tuple[Period, ...]

    @property
    def rules(self) -> tuple[CompiledRule, ...]:
        return self.earn + self.multipliers


@dataclass(frozen=True, slots=True)
class CompiledProgram:
    document: ProgramDocument
    settings: Settings
    zone: ZoneInfo
    minor_per_major: int
    count_fields: tuple[tuple[str, str], ...]
    plans: dict[str, EventPlan]

    def plan(self, event_type: str) -> EventPlan | None:
        return self.plans.get(event_type)


def compile_program(document: ProgramDocument) -> CompiledProgram:
    """Compile (and remember on the document) everything evaluation needs."""
    cached = document._compiled
    if isinstance(cached, CompiledProgram):
        return cached
    settings = document.settings
    zone = settings.zone
    declared = document.declared_fields()
    types = sorted(set(BUILT_IN_EVENT_TYPES) | set(declared))
    rules = [_compile_rule(rule, i, settings, zone) for i, rule in enumerate(document.earn_rules)
             if rule.active]
    plans = {t: _plan(t, [r for r in rules if r.rule.on == t], declared) for t in types}
    program = CompiledProgram(document, settings, zone, minor_per_major(settings.currency),
                              tuple((t, count_field(t)) for t in types), plans)
    document._compiled = program
    return program


def _plan(event_type: str, rules: list[CompiledRule],
          declared: dict[str, dict[str, Any]]) -> EventPlan:
    ordered = sorted(rules, key=lambda r: (r.rule.priority, r.order))
    trees = [r.condition.tree for r in ordered if r.condition is not None]
    tree = merge_trees(*trees) if trees else {}
    line_tree = tree.pop("line", {})
    fields = event_fields(event_type, declared) or {}
    periods = sorted({p for r in ordered for p, _ in r.member_limits})
    return EventPlan(
        event_type=event_type,
        earn=tuple(r for r in ordered if r.kind != "multiplier"),
        multipliers=tuple(r for r in ordered if r.kind == "multiplier"),
        read_tree=tree,
        line_tree=line_tree,
        line_conditions=tuple(r for r in ordered if r.per_line and r.condition is not None),
        data_defaults={name: ZERO_VALUES[kind] for name, kind in fields.items()
                       if kind != "timestamp"},
        periods=tuple(periods),
    )


def _compile_rule(rule: EarnRule, order: int, settings: Settings, zone: ZoneInfo) -> CompiledRule:
    action = rule.points
    kind = action.kind
    if kind == "per_currency_unit":
        numerator, denominator = as_ratio(action.per_currency_unit)
    elif kind == "multiplier":
        m_num, m_den = as_ratio(action.multiplier)
        numerator, denominator = m_num - m_den, m_den  # the extra (m - 1) on top of base
    else:
        numerator, denominator = action.fixed, 1
    limits = rule.limits
    member_limits = tuple(limits.per_member.items()) if limits and limits.per_member else ()
    return CompiledRule(
        rule=rule, order=order,
        condition=compile_condition(rule.when) if rule.when else None,
        kind=kind, numerator=numerator, denominator=denominator,
        rounding=action.rounding or settings.rounding,
        starts=_instant(rule.valid_from, zone, end=False),
        ends=_instant(rule.valid_until, zone, end=True),
        pending=_pending(rule, settings),
        member_limits=member_limits,
        categories=frozenset(rule.lines.categories) if rule.lines else None,
        skus=frozenset(rule.lines.skus) if rule.lines else None,
        targets=frozenset(action.of) if action.of is not None else None,
    )


def _pending(rule: EarnRule, settings: Settings) -> bool:
    """Purchase points wait out the return window by default; behaviour points do not."""
    if rule.pending is not None:
        return rule.pending
    return rule.on == PURCHASE and settings.pending_days > 0


def _instant(bound: date | datetime | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """A plain date is a whole local day: from its midnight, or until the next midnight."""
    if bound is None or isinstance(bound, datetime):
        return bound
    day = bound + timedelta(days=1) if end else bound
    return datetime(day.year, day.month, day.day, tzinfo=zone)
