"""Earning: what one event earns one member under one program version.

``evaluate`` is a pure function: the event, the member as of just before it, and
how much each rule already gave (for limits and budgets) go in; awards with
explanations and notes come out. Nothing is read or written elsewhere, so the
ingest service, the simulator and the tests all get the same answer.

Stacking order — how rules combine on one event
-----------------------------------------------
1. **Eligibility.** Only rules whose ``on`` is the event's type, that are
   ``active``, and whose validity window contains ``occurred_at`` take part.
   A plain-date window is whole local days in the program timezone.
2. **Earn pass.** ``per_currency_unit`` and ``fixed`` rules run in priority order
   (lower number first; ties keep document order). Each matching rule computes
   its points exactly, rounds once with its rounding mode, applies its limits,
   and awards what is left. Spend is the order total (what the member paid),
   shared across lines in proportion to their amounts.
3. **Multiplier pass.** After *all* earn rules, ``multiplier`` rules run in
   priority order. A multiplier ``m`` awards ``(m − 1) ×`` the points the earn pass
   awarded: from the rules listed in ``of`` (default: every earn rule) and, for a
   per-line multiplier, only on its lines. Multipliers are additive and never
   multiply one another: a birthday ×2 and a "beans ×2" on a beans line give 3×
   the base points, not 4×. This keeps every bonus predictable on its own and
   makes its explanation ("Birthday month ×2: +120") true by itself.
4. **Exclusive.** A rule marked ``exclusive`` that awards points stops later rules
   *of its own pass*: an event-scope rule stops them for the whole event, a
   per-line rule only on the lines it awarded on (other lines still earn). An
   exclusive earn rule does not stop multipliers (guard those with ``when``).
   A rule that matched but awarded nothing (capped, budget spent) stops nothing,
   so a promotion that runs out of budget falls back to the regular rules. Every
   rule an exclusive rule stops gets a ``stopped_by_exclusive`` note naming it
   (and, for a per-line rule, the lines it took).
5. **Limits.** On each rule's rounded total, in this order: ``per_event``, then
   each per-member period (points left, or no award once the number of awards is
   reached), then the rule ``budget``. The tightest one wins and is named in
   ``capped_by``; a rule left with nothing records a note instead of an award.
   Multipliers multiply what earn rules actually awarded, after their caps.
6. **Attribution.** A purchase award is split per line (largest remainder, so
   parts sum to the award); an award that does not depend on lines (a fixed
   first-purchase bonus) has ``line_index`` None. Awards of rules with
   ``min_spend`` carry it, so a return that drops the order below it claws back.
7. **Gift pass.** Last, gift rules run in priority order, each giving at most
   one unit of its catalog gift per event (``kind`` "gift", ``points`` 1, no
   line). They are their own kind: an exclusive earn rule does not stop them, an
   exclusive gift rule stops only later gift rules ("a tote from $100, else a
   mug from $50"), and multipliers never multiply them. Limits count a gift as
   1. Stock is not the engine's business: the caller takes a unit for each gift
   and drops the ones it could not (``out_of_stock``), before counting usage.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

from patron.program.activation import line_variables, variables
from patron.program.catalog import PURCHASE
from patron.program.cel import AbsentValue, make_context, set_variable
from patron.program.compiled import CompiledProgram, CompiledRule, EventPlan, compile_program
from patron.program.context import (
    NO_USAGE,
    EventContext,
    InvalidEvent,
    Line,
    MemberContext,
    Purchase,
    UsageReader,
    parse_purchase,
)
from patron.program.document import ProgramDocument
from patron.program.limits import apply_limits, campaign_cost, campaign_room, cap_text
from patron.program.money import apportion, as_ratio, format_money, round_ratio

Key = tuple[int | None, int | None]  # (line_index, min_spend)
NOT_POINTS = ("cashback", "gift")
"""Rule totals that are not points: money for the wallet, a unit of a catalog gift."""


class Award(NamedTuple):
    """Points one rule gives on one line (or on the whole event), and why."""

    rule_id: str
    rule_name: str
    points: int
    pending: bool
    explanation: str
    line_index: int | None = None
    capped_by: str | None = None
    kind: str = "earn"
    min_spend: int | None = None
    reward_id: str | None = None
    """A gift: the catalog reward given."""


class RuleTotal(NamedTuple):
    """One line of the member's "why did I get these points": a rule and its total.

    A ``cashback`` total is money (minor units) for the wallet, not points; a
    ``gift`` total is one unit of the catalog reward ``reward_id``."""

    rule_id: str
    rule_name: str
    points: int
    pending: bool
    explanation: str
    capped_by: str | None = None
    kind: str = "earn"
    reward_id: str | None = None


class Note(NamedTuple):
    """Why a matching rule gave nothing: limit_reached, budget_exhausted,
    campaign_budget_exhausted, stopped_by_exclusive, condition_error, or (noted by the
    caller, which holds the stock) out_of_stock."""

    rule_id: str
    code: str
    message: str


class Evaluation(NamedTuple):
    """Everything one event earned, with notes on rules that matched but gave nothing."""

    program_version: int
    event_type: str
    event_id: str | None
    evaluated_at: datetime
    awards: tuple[Award, ...] = ()
    totals: tuple[RuleTotal, ...] = ()
    notes: tuple[Note, ...] = ()
    purchase: Purchase | None = None
    campaign_spend: tuple[tuple[str, int, int], ...] = ()
    """(campaign id, points, money) each campaign's rules gave on this event."""

    @property
    def total_points(self) -> int:
        return sum(t.points for t in self.totals if t.kind not in NOT_POINTS)

    @property
    def pending_points(self) -> int:
        return sum(t.points for t in self.totals if t.pending and t.kind not in NOT_POINTS)

    @property
    def cashback(self) -> int:
        return sum(t.points for t in self.totals if t.kind == "cashback")

    @property
    def gifts(self) -> tuple[RuleTotal, ...]:
        return tuple(t for t in self.totals if t.kind == "gift")

    def explanations(self) -> list[str]:
        return [t.explanation for t in self.totals]


class _Run:
    """Working state of one evaluation; also the inputs ``activation`` getters read."""

    __slots__ = ("program", "plan", "event", "member", "local", "purchase", "lines", "usage",
                 "context", "given", "line_hits", "awards", "totals", "notes", "base", "noted",
                 "data_defaults", "counted_types", "campaign_given")

    def __init__(self, program: CompiledProgram, plan: EventPlan, event: EventContext,
                 member: MemberContext, usage: UsageReader) -> None:
        self.program, self.plan, self.event, self.member = program, plan, event, member
        self.usage = usage
        self.local = event.occurred_at.astimezone(program.zone)
        self.purchase: Purchase | None = None
        self.lines: tuple[Line, ...] = ()
        self.context: Any = None
        self.given: dict[str, Any] = {}
        self.line_hits: dict[int, set[int]] = {}
        self.awards: list[Award] = []
        self.totals: list[RuleTotal] = []
        self.notes: list[Note] = []
        self.base: list[tuple[str, Key, int]] = []
        self.noted: set[tuple[str, str]] = set()
        self.data_defaults = plan.data_defaults
        self.counted_types = program.counted_types
        self.campaign_given: dict[str, tuple[int, int]] = {}

    def note(self, rule: CompiledRule, code: str, message: str) -> None:
        if (rule.id, code) not in self.noted:
            self.noted.add((rule.id, code))
            self.notes.append(Note(rule.id, code, f"{rule.name}: {message}"))


def evaluate(document: ProgramDocument | CompiledProgram, version: int, event: EventContext,
             member: MemberContext, usage: UsageReader = NO_USAGE, *,
             now: datetime) -> Evaluation:
    """Awards for one event; raises ``InvalidEvent`` when purchase data cannot earn."""
    if event.occurred_at.tzinfo is None:
        raise InvalidEvent("occurred_at must be timezone-aware", field="occurred_at")
    program = document if isinstance(document, CompiledProgram) else compile_program(document)
    plan = program.plans.get(event.type)
    if plan is None or not (plan.earn or plan.multipliers or plan.gifts):
        return Evaluation(version, event.type, event.id, now)
    run = _Run(program, plan, event, member, usage)
    if event.type == PURCHASE:
        purchase = event.purchase
        if purchase is None or purchase.currency != program.settings.currency:
            purchase = parse_purchase(event.data, program.settings.currency)
        run.purchase = purchase
        run.lines = run.purchase.lines
    if plan.needs_context:
        run.given = variables(run, plan.event_reads, plan.nested_reads)
        run.context = make_context(run.given)
        if plan.line_conditions and run.lines:
            run.line_hits = _line_hits(run)
    _pass(run, plan.earn)
    if run.base and plan.multipliers:
        _pass(run, plan.multipliers)
    if plan.gifts:
        _pass(run, plan.gifts)
    return Evaluation(version, event.type, event.id, now, tuple(run.awards), tuple(run.totals),
                      tuple(run.notes), run.purchase,
                      tuple((c, p, m) for c, (p, m) in run.campaign_given.items()))


def _holds(run: _Run, rule: CompiledRule) -> bool:
    condition = rule.condition
    if condition is None:
        return True
    try:
        result = condition.runtime.execute(run.context)
    except Exception as exc:  # noqa: BLE001 - the CEL library raises several kinds
        bound = run.given.keys() | run.plan.line_reads.flat.keys()
        error = condition.failure(exc, bound)
        if not isinstance(error, AbsentValue):  # absent reads as absent: false, not broken
            run.note(rule, "condition_error", f"condition could not be evaluated ({error})")
        return False
    if result is True or result is False:
        return result
    run.note(rule, "condition_error", "condition did not give true/false")
    return False


def _line_hits(run: _Run) -> dict[int, set[int]]:
    """Which lines each per-line condition holds on; one ``line`` binding per line."""
    at = run.event.occurred_at
    rules = [r for r in run.plan.line_conditions if r.in_window(at)]
    hits: dict[int, set[int]] = {rule.order: set() for rule in rules}
    for line in run.lines:
        candidates = [r for r in rules if r.line_selected(line.sku, line.category)]
        if not candidates:
            continue
        for name, value in line_variables(line, run.plan.line_reads).items():
            set_variable(run.context, name, value)
        for rule in candidates:
            if _holds(run, rule):
                hits[rule.order].add(line.index)
    return hits


def _pass(run: _Run, rules: tuple[CompiledRule, ...]) -> None:
    """One pass (earn or multiplier) in priority order; see the module docstring."""
    at = run.event.occurred_at
    stopped_by: str | None = None
    claimed: dict[int, str] = {}  # line index -> the exclusive per-line rule that took it
    for rule in rules:
        if rule.campaign is not None and rule.campaign not in run.member.campaigns:
            continue
        if (rule.starts is not None or rule.ends is not None) and not rule.in_window(at):
            continue
        selected = _selected_lines(run, rule) if rule.per_line else None
        if selected is not None and not selected:
            continue
        if selected is None and not _event_matches(run, rule):
            continue
        if stopped_by is not None:
            run.note(rule, "stopped_by_exclusive", f"not combined with {stopped_by!r}")
            continue
        lines = run.lines if selected is None else selected
        if claimed and _reads_lines(rule):
            taken = [line for line in lines if line.index in claimed]
            if taken:
                _note_claimed(run, rule, taken, claimed)
                lines = [line for line in lines if line.index not in claimed]
        awarded = (_multiply(run, rule, lines) if rule.multiplier
                   else _gift(run, rule) if rule.gift is not None else _earn(run, rule, lines))
        if awarded and rule.exclusive:
            if rule.per_line:
                claimed.update((i, rule.name) for i in awarded if i is not None)
            else:
                stopped_by = rule.name


def _reads_lines(rule: CompiledRule) -> bool:
    """Whether a rule's award depends on the lines it gets: not an order-level fixed
    award nor a gift, which a per-line exclusive rule therefore never stops."""
    return rule.gift is None and (rule.per_line or rule.kind != "fixed")


def _note_claimed(run: _Run, rule: CompiledRule, taken: list[Line],
                  claimed: dict[int, str]) -> None:
    """Lines an exclusive per-line rule took, said like a whole-event stop, with the
    lines named: "not combined with '3x on beans' on BEANS"."""
    names = ", ".join(repr(name) for name in dict.fromkeys(claimed[line.index]
                                                            for line in taken))
    where = ", ".join(line.sku or f"line {line.index + 1}" for line in taken)
    run.note(rule, "stopped_by_exclusive", f"not combined with {names} on {where}")


def _event_matches(run: _Run, rule: CompiledRule) -> bool:
    min_spend = rule.min_spend
    if min_spend is not None and (run.purchase is None or run.purchase.total < min_spend):
        return False
    return _holds(run, rule)


def _selected_lines(run: _Run, rule: CompiledRule) -> list[Line]:
    hits = run.line_hits.get(rule.order) if rule.condition is not None else None
    if rule.condition is not None and hits is None:
        return []
    return [line for line in run.lines if rule.line_selected(line.sku, line.category)
            and (hits is None or line.index in hits)]


def _earn(run: _Run, rule: CompiledRule, lines: Any) -> list[int | None] | None:
    if rule.kind == "fixed" and not rule.per_line:
        return _award(run, rule, [(None, rule.min_spend)], [rule.numerator], 1)
    if rule.kind == "fixed":
        return _award(run, rule, [(line.index, None) for line in lines],
                      [rule.numerator] * len(lines), 1)
    numerator, min_spend = rule.numerator, rule.min_spend
    per = rule.denominator if rule.kind == "cashback" else (
        rule.denominator * run.program.minor_per_major)
    return _award(run, rule, [(line.index, min_spend) for line in lines],
                  [line.net_amount * numerator for line in lines], per)


def _gift(run: _Run, rule: CompiledRule) -> list[int | None] | None:
    """One unit of the rule's gift, for the whole event (never per line)."""
    return _award(run, rule, [(None, rule.min_spend)], [1], 1)


def _multiply(run: _Run, rule: CompiledRule, lines: Any) -> list[int | None] | None:
    """The extra (m − 1) × base on each line (or order-level piece) it applies to."""
    eligible = {line.index for line in lines}
    whole_order = not rule.per_line
    targets = rule.targets
    grouped: dict[Key, int] = {}
    for rule_id, key, points in run.base:
        if targets is not None and rule_id not in targets:
            continue
        line_index = key[0]
        if line_index in eligible or (whole_order and line_index is None):
            grouped[key] = grouped.get(key, 0) + points
    numerator, denominator = rule.numerator, rule.denominator
    if rule.benefit is not None:
        factor = run.member.multipliers.get(rule.benefit)
        if factor is None or factor <= 1:
            return None
        m_num, m_den = as_ratio(factor)
        numerator, denominator = m_num - m_den, m_den
    return _award(run, rule, list(grouped), [p * numerator for p in grouped.values()],
                  denominator)


def _award(run: _Run, rule: CompiledRule, keys: list[Key], weights: list[int],
           denominator: int) -> list[int | None] | None:
    """Round once, cap, attribute; the awarded line indices, or None if nothing."""
    if not weights:
        return None
    weight = sum(weights)
    total = weight if denominator == 1 else round_ratio(weight, denominator, rule.rounding)
    if total <= 0:
        return None
    granted, capped_by = (total, None) if rule.limits is None else apply_limits(
        rule, total, run.usage)
    if rule.campaign is not None and granted > 0:
        granted, capped_by = _campaign_budget(run, rule, granted, capped_by)
    if granted <= 0:
        code = ("campaign_budget_exhausted" if capped_by == "campaign_budget"
                else "budget_exhausted" if capped_by == "budget" else "limit_reached")
        run.note(rule, code, _nothing_text(run, rule, capped_by))
        return None
    parts = [granted] if len(weights) == 1 else apportion(granted, weights)
    kind = (rule.kind if rule.kind in NOT_POINTS
            else "multiplier" if rule.multiplier else "earn")
    earn = kind == "earn"
    rule_id, name, pending, gift = rule.id, rule.name, rule.pending, rule.gift
    plain = capped_by is None and not rule.explain and kind not in NOT_POINTS
    awards, base, lines = run.awards, run.base, run.lines
    awarded: list[int | None] = []
    for key, part in zip(keys, parts, strict=True):
        if not part:
            continue
        line_index = key[0]
        sku = lines[line_index].sku if line_index is not None else ""
        if plain:
            text = f"{name}: +{part} ({sku})" if sku else f"{name}: +{part}"
        else:
            text = explain(run, rule, part, capped_by, sku)
        awards.append(Award(rule_id, name, part, pending, text, line_index, capped_by, kind,
                            key[1], gift))
        if earn:
            base.append((rule_id, key, part))
        awarded.append(line_index)
    text = f"{name}: +{granted}" if plain else explain(run, rule, granted, capped_by, "")
    run.totals.append(RuleTotal(rule_id, name, granted, pending, text, capped_by,
                                kind if kind in NOT_POINTS else "earn", gift))
    return awarded


def _campaign_budget(run: _Run, rule: CompiledRule, granted: int,
                     capped_by: str | None) -> tuple[int, str | None]:
    """Cut an award to what its campaign's budget has left, counting what this event
    already gave from it; the caller counts every campaign's spend across events."""
    campaign = run.program.campaigns[rule.campaign]
    kind = rule.kind if rule.kind in NOT_POINTS else "earn"
    read = run.usage.campaign_used(campaign.id)
    given = run.campaign_given.get(campaign.id, (0, 0))
    used = (read[0] + given[0], read[1] + given[1])
    room = campaign_room(kind, granted, campaign.budget, used, campaign.point_value)
    if room < granted:
        granted, capped_by = room, "campaign_budget"
    if granted > 0:
        points, money = campaign_cost(kind, granted, campaign.point_value)
        run.campaign_given[campaign.id] = (given[0] + points, given[1] + money)
    return granted, capped_by


def _nothing_text(run: _Run, rule: CompiledRule, capped_by: str | None) -> str:
    if capped_by == "campaign_budget":
        return f"the campaign's budget is used up, {_nothing(rule)}"
    if rule.gift is not None and capped_by == "budget":
        return f"all {rule.limits.budget} gifts of the promotion were given, no gift"
    text = cap_text(rule, capped_by, run.program.settings.points_name)
    return f"{text}, {_nothing(rule)}"


def _nothing(rule: CompiledRule) -> str:
    return "no gift" if rule.gift is not None else "nothing awarded"


def out_of_stock(evaluation: Evaluation, rule_ids: Collection[str]) -> Evaluation:
    """The evaluation without the gifts of ``rule_ids``, whose stock ran out, each
    replaced by an ``out_of_stock`` note (the engine never sees stock)."""
    if not rule_ids:
        return evaluation
    gone = [t for t in evaluation.totals if t.kind == "gift" and t.rule_id in rule_ids]
    notes = [Note(t.rule_id, "out_of_stock", f"{t.rule_name}: out of stock, no gift")
             for t in gone]
    return evaluation._replace(
        totals=tuple(t for t in evaluation.totals if t not in gone),
        awards=tuple(a for a in evaluation.awards
                     if not (a.kind == "gift" and a.rule_id in rule_ids)),
        notes=evaluation.notes + tuple(notes))


def explain(run: _Run, rule: CompiledRule, points: int, capped_by: str | None,
            sku: str) -> str:
    """What the member reads: "2× points on beans, 12–18 Mar: +240"; for a gift,
    "Free mug on orders of $50 or more: Coffee mug"."""
    settings = run.program.settings
    value = format_money(points, settings.currency) if rule.kind == "cashback" else points
    if rule.explain:
        text = rule.explain.format(points=value, rule=rule.name,
                                   points_name=settings.points_name)
    elif rule.gift is not None:
        text = f"{rule.name}: {rule.gift_name}"
    else:
        text = f"{rule.name}: +{value}"
    if sku:
        text = f"{text} ({sku})"
    if capped_by:
        text = f"{text} (capped: {cap_text(rule, capped_by, run.program.settings.points_name)})"
    return text
