"""Earning for recorded events: the rule engine fed from, and written to, the database.

A flow, not a domain: one earn reads members, versions and tiers and writes the
ledger, the wallet, gift stock and tier qualification in one go. Its own tables
and queries are in ``patron.earning``.

``BatchEarning.evaluate`` runs every event of an ingest batch through the
program version current at its ``occurred_at``, with the member as of just
before it (profile, counts of earlier events) and the usage its rules' limits
and budgets have already consumed, counting earlier events of the same batch.
The caller holds its members' account locks. Budgets are read without a lock, which
would make every event of a budgeted promotion wait for the one before it to commit;
``write`` adds to them and, if another transaction moved one meanwhile in a way that
could change what this batch gave, has the transaction run again (``ReadChanged``).
``BatchEarning.write`` then records each rule total through the writer of its
kind (points, cashback, a gift: see ``patron.flows.awards``), which also keeps,
for each piece of it, the row naming the rule, version and line that a return
claws back from.

A campaign's rules apply only to the members in its treatment group, and its budget is
counted like a rule budget (see ``patron.flows.campaign_earning``).

A gift rule's total is a unit of a catalog gift: it is taken from the reward's
stock as the event is evaluated (see ``patron.rewards.gifts``), before usage is
counted, so a gift that ran out leaves an ``out_of_stock`` note and uses none
of the rule's limits.

Work beside the earn rules runs as *earning steps* (``STEPS``): one of each is made
per batch, says what of the member its conditions read, adds to each event's outcome
as the event is evaluated, and writes when the batch is written. Badges, challenges
and streaks (``patron.engagement.batch``) are one, registered in
``patron.flows.subscribers``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from patron.db.engine import ReadChanged
from patron.earning import repository
from patron.events.schemas import Award, EventIn, Note, Progress, TierMove
from patron.errors import InvalidInput
from patron.flows.awards import KINDS, BatchWriters, Earned
from patron.flows.campaign_earning import CampaignEarning
from patron.ledger.holdings import Holding
from patron.program.service import Program
from patron.program.versions import versions
from patron.rewards.gifts import GiftStock
from patron.recommendations.repository import recommended_lists
from patron.segments.repository import insight_of
from patron.program.catalog import BUILT_IN_EVENT_TYPES
from patron.program.compiled import CompiledProgram
from patron.program.context import (EventContext, MemberContext, MemberProfile, PeriodUsage,
                                  Purchase, period_key)
from patron.program.engine import Evaluation, evaluate, out_of_stock
from patron.program.incentives import Reward
from patron.tiers.service import TierTracker

_ZERO = PeriodUsage()


class UnknownEventType(InvalidInput):
    code = "unknown_event_type"
    title = "Unknown event type"


class _Usage:
    """The limits' view of one member's usage in the periods of one event."""

    __slots__ = ("budget", "campaigns", "keys", "member_id", "used")

    def __init__(self, used: dict[tuple[int, str, str], list[int]], member_id: int,
                 keys: dict[str, str], budget: dict[str, int],
                 campaigns: CampaignEarning) -> None:
        self.used, self.member_id, self.keys, self.budget = used, member_id, keys, budget
        self.campaigns = campaigns

    def member_usage(self, rule_id: str, period: str) -> PeriodUsage:
        found = self.used.get((self.member_id, rule_id, self.keys[period]))
        return PeriodUsage(found[0], found[1]) if found else _ZERO

    def budget_used(self, rule_id: str) -> int:
        return self.budget.get(rule_id, 0)

    def campaign_used(self, campaign_id: str) -> tuple[int, int]:
        return self.campaigns.campaign_used(campaign_id)


class EarningStep(Protocol):
    """Work beside the earn rules on a batch's events: made per batch from the batch's
    (version, compiled program, member id, event) tuples, after the accounts are locked."""

    def needs(self) -> tuple[bool, bool, bool]:
        """Whether its conditions read the member (profile, counts), their features and
        their recommendations (``member.recommended``)."""

    def evaluate(self, index: int, version: int, compiled: CompiledProgram,
                 member: MemberContext, member_id: int, event: EventIn,
                 purchase: Purchase | None) -> tuple[list[Award], list[Progress], list[Note]]:
        """An earning event, after its rules (``member``: the member after the event): the
        awards, progress lines and notes its outcome gets."""

    def write(self, recorded: Mapping[str, int], actor: str, now: datetime) -> None:
        """Once the batch's events are recorded (event id → row id)."""


STEPS: list[Callable[..., EarningStep]] = []
"""The steps every batch runs, in order (registered in ``patron.flows.subscribers``)."""


class BatchEarning:
    """Evaluates a batch's events in order, keeping counts and usage current."""

    def __init__(self, conn: Connection, program: Program,
                 items: Sequence[tuple[int, EventIn]], now: datetime, *,
                 held: Mapping[int, Holding] | None = None,
                 members: Sequence[Any] | None = None) -> None:
        """``members``: the batch's ``repository.member_rows`` if the caller read them."""
        self.conn, self.program = conn, program
        self.held = held
        """Where the members' points are held, as locked for the batch (None: read later)."""
        version_at = versions.resolver(conn, program)
        self.plans: list[tuple[int, CompiledProgram]] = [
            version_at(event.occurred_at) for _, event in items]
        member_ids = {member_id for member_id, _ in items}
        self.steps = [make(conn, program, [(version, compiled, member_id, event) for
                                           (version, compiled), (member_id, event)
                                           in zip(self.plans, items)], now, held=held)
                      for make in STEPS]
        step_needs = [step.needs() for step in self.steps]
        steps_need_member, steps_need_features, steps_need_recommended = (
            any(needs[i] for needs in step_needs) for i in range(3))
        rule_plans = [plan for (_, compiled), (_, event) in zip(self.plans, items)
                      if (plan := compiled.plans.get(event.type)) is not None]
        needs_member = steps_need_member or any(plan.needs_context for plan in rule_plans)
        self.profiles: dict[int, MemberProfile] = {}
        self.counts: dict[int, dict[str, int]] = defaultdict(dict)
        if needs_member and member_ids:
            for row in (members if members is not None
                        else repository.member_rows(conn, program.id, member_ids)):
                self.profiles[row.id] = MemberProfile(row.birthdate, row.region,
                                                      row.join_channel, row.attributes or {})
            if steps_need_member or any(plan.reads_counts for plan in rule_plans):
                self.counts.update(repository.event_counts(conn, program.id, member_ids))
        needs_features = steps_need_features or any(plan.needs_features for plan in rule_plans)
        self.insight = insight_of(conn, program.id, member_ids) if needs_features else {}
        needs_recommended = steps_need_recommended or any(plan.needs_recommended
                                                          for plan in rule_plans)
        self.recommended = (recommended_lists(conn, program.id, member_ids)
                            if needs_recommended and member_ids else {})
        self.limited: dict[str, set[str]] = defaultdict(set)
        self.budget_limits: dict[str, int] = {}
        periods: set[str] = set()
        for (_, compiled), (_, event) in zip(self.plans, items):
            plan = compiled.plans.get(event.type)
            if plan is None:
                continue
            local = event.occurred_at.astimezone(compiled.zone)
            for rule_id, period in plan.usage_keys():
                self.limited[rule_id].add(period)
                periods.add(period_key(period, local))
            for rule in plan.rules:
                if rule.limits and rule.limits.budget is not None:
                    self.budget_limits[rule.id] = min(rule.limits.budget,
                                                      self.budget_limits.get(rule.id,
                                                                             rule.limits.budget))
        self.used, self.budget = repository.usage_and_budgets(
            conn, program.id, member_ids, self.limited, periods, self.budget_limits)
        # campaigns: treatment groups and budgets of the campaigns the events fall in
        self.campaigns = CampaignEarning(conn, program.id, [
            (compiled, event.occurred_at) for (_, compiled), (_, event) in zip(self.plans, items)
        ], member_ids)
        self.budget_read = dict(self.budget)
        self.usage_added: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
        self.budget_added: dict[str, int] = defaultdict(int)
        self.tier_changes: dict[str, TierMove] = {}
        self.known_types: dict[int, set[str]] = {}
        self.current = version_at(now)
        current = self.current[1]
        self.tiers = TierTracker(conn, program, current.document.tiers, current.zone, member_ids,
                                 min((e.occurred_at for _, e in items), default=None), now,
                                 plans=current.document.memberships)
        self.stock = GiftStock(conn, program, self._gift_rewards(items, current), now)

    def _gift_rewards(self, items: Sequence[tuple[int, EventIn]],
                      current: CompiledProgram) -> dict[str, Reward]:
        """The catalog gifts the batch's events may get: the current catalog's entry (its
        stock is the live figure), or the one of the event's version if it left it."""
        found: dict[str, Reward] = {}
        for (_, compiled), (_, event) in zip(self.plans, items):
            plan = compiled.plans.get(event.type)
            for rule in plan.gifts if plan is not None else ():
                if rule.gift in found:
                    continue
                for source in (current, compiled):
                    try:
                        found[rule.gift] = source.document.reward(rule.gift)
                        break
                    except KeyError:
                        continue
        return found

    def _known_types(self, version: int, compiled: CompiledProgram) -> set[str]:
        known = self.known_types.get(version)
        if known is None:
            known = self.known_types[version] = (
                set(BUILT_IN_EVENT_TYPES) | {d.name for d in compiled.document.event_types})
        return known

    def evaluate(self, index: int, member_id: int, event: EventIn, now: datetime,
                 *, earn: bool = True, purchase: Purchase | None = None) -> Earned:
        """Evaluate one event (raises ``InvalidEvent``); counts move on even if it earns nothing.

        An event that earns must be of a type its own version knows, since that version's
        rules judge it. One recorded without earning (history, ``earn=False``) may also be of
        a type the current version declares: a program that adds a custom type later can
        still take the older history of it, for analytics. ``purchase``: the order its
        data describes, parsed beforehand (``flows.handlers.Made``).
        """
        version, compiled = self.plans[index]
        if event.type not in self._known_types(version, compiled) and (
                earn or event.type not in self._known_types(*self.current)):
            raise UnknownEventType(
                f"{event.type!r} is neither a built-in event type nor declared in the program "
                f"(version {version if earn else self.current[0]}) under event_types",
                field="type")
        context = EventContext(event.type, event.occurred_at, event.data, event.channel,
                               event.id, purchase)
        counts = self.counts[member_id]
        tier, multipliers = self.tiers.context(member_id, event.occurred_at)
        features, tags = self.insight.get(member_id, ({}, ()))
        member = MemberContext(str(member_id), self.profiles.get(member_id, MemberProfile()),
                               tier, counts, multipliers, features, tags,
                               recommended=self.recommended.get(member_id, {}),
                               campaigns=self.campaigns.campaigns_of(member_id))
        if earn:
            plan = compiled.plans.get(event.type)
            keys: dict[str, str] = {}
            if plan is not None and plan.periods:
                local = event.occurred_at.astimezone(compiled.zone)
                keys = {period: period_key(period, local) for period in plan.periods}
            evaluation = evaluate(compiled, version, context, member,
                                  _Usage(self.used, member_id, keys, self.budget,
                                         self.campaigns), now=now)
            if evaluation.gifts:
                evaluation = out_of_stock(evaluation, [
                    t.rule_id for t in evaluation.gifts if not self.stock.take(t.reward_id)])
            self._count_usage(member_id, evaluation, keys)
            self.campaigns.count(evaluation)
            self._qualify(member_id, event, compiled, evaluation)
        else:
            evaluation = Evaluation(version, event.type, event.id, now)
        counts[event.type] = counts.get(event.type, 0) + 1  # ``member`` sees it now
        earned = Earned(member_id, version, compiled, evaluation)
        for total in evaluation.totals:
            earned.lots.append(KINDS[total.kind].hold(earned, total, event.occurred_at))
        for step in self.steps if earn else ():
            awards, progress, notes = step.evaluate(index, version, compiled, member,
                                                    member_id, event, evaluation.purchase)
            earned.outcome += awards
            earned.progress += progress
            earned.notes += notes
        return earned

    def _qualify(self, member_id: int, event: EventIn, compiled: CompiledProgram,
                 evaluation: Evaluation) -> None:
        """What the event adds to tier qualification: spend, an order, tier points."""
        amounts: dict[str, int] = {}
        purchase = evaluation.purchase
        if purchase is not None:
            amounts["spend"], amounts["orders"] = purchase.total, 1
        plan = compiled.plans.get(event.type)
        if plan is not None and evaluation.totals:
            tier_rules = {rule.id for rule in plan.rules if rule.tier_points}
            points = sum(t.points for t in evaluation.totals
                         if t.rule_id in tier_rules and t.kind != "gift")
            if points:
                amounts["tier_points"] = points
        if amounts:
            what = f"order {purchase.order_id}" if purchase else f"{event.type} {event.id}"
            self.tiers.add(member_id, event.occurred_at, amounts, what, event.id)
            if self.tiers.last_change is not None:
                change = self.tiers.last_change
                self.tier_changes[event.id] = TierMove(
                    from_tier=change["from_tier"], to_tier=change["to_tier"],
                    kind=change["kind"], reason=change["reason"])

    def _count_usage(self, member_id: int, evaluation: Evaluation,
                     keys: dict[str, str]) -> None:
        for total in evaluation.totals:
            if total.rule_id in self.budget:
                self.budget[total.rule_id] += total.points
                self.budget_added[total.rule_id] += total.points
            for period in self.limited.get(total.rule_id, ()):
                key = (member_id, total.rule_id, keys[period])
                used = self.used.setdefault(key, [0, 0])
                used[0] += total.points
                used[1] += 1
                added = self.usage_added[key]
                added[0] += total.points
                added[1] += 1

    def write(self, earned: Sequence[tuple[Earned, int, EventIn]], *, actor: str,
              now: datetime) -> None:
        """What evaluated events earned (with their pks), each rule total through the
        writer of its kind; then tier qualification and the limits' counters."""
        writers = BatchWriters(self.conn, self.program, now, held=self.held)
        for item, event_pk, event in earned:
            for total, lot in zip(item.evaluation.totals, item.lots, strict=True):
                writers[total.kind].add(item, total, lot, event, event_pk, actor)
        for writer in writers:
            writer.flush()
        for item, event_pk, event in earned:
            for award in item.evaluation.awards:
                writers[award.kind].piece(item, event_pk, event, award)
        for writer in writers:
            writer.insert()
        self.tiers.write({event.id: pk for _, pk, event in earned}, now)
        repository.add_usage(self.conn, self.program.id,
                             {k: v for k, v in self.usage_added.items() if v[1]})
        self._add_budget({k: v for k, v in self.budget_added.items() if v})
        self.campaigns.write()
        recorded = {event.id: pk for _, pk, event in earned}
        for step in self.steps:
            step.write(recorded, actor, now)

    def _add_budget(self, added: dict[str, int]) -> None:
        """Count what budgeted rules gave; run again if another transaction spent from
        a budget since it was read and this batch's outcome might differ for it: the
        budget would be overspent, or this batch reached it (so was capped by it)."""
        totals = repository.add_budget(self.conn, self.program.id, added)
        for rule_id, total in totals.items():
            read, limit = self.budget_read[rule_id], self.budget_limits[rule_id]
            if total != read + added[rule_id] and (total > limit
                                                   or read + added[rule_id] >= limit):
                raise ReadChanged(f"budget of rule {rule_id} moved from {read} meanwhile")


def notes_of(evaluation: Evaluation) -> list[Note]:
    return [Note(rule_id=n.rule_id, code=n.code, message=n.message) for n in evaluation.notes]
