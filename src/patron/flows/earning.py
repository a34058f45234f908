"""Earning for recorded events: the rule engine fed from, and written to, the database.

A flow, not a domain: one earn reads members, versions and tiers and writes the
ledger, the wallet, gift stock and tier qualification in one go. Its own tables
and queries are in ``patron.earning``.

``evaluate_batch`` runs every event of an ingest batch through the program
version current at its ``occurred_at``, with the member as of just before it
(profile, counts of earlier events) and the usage its rules' limits and budgets
have already consumed, counting earlier events of the same batch. The caller
holds its members' account locks; budgets are locked here. ``write_awards``
then records, for each rule total, the ledger earn (one entry and one lot per
rule, so the member's ledger reads rule by rule) and, for each piece of it, an
``awards`` row naming the rule, version, line, entry and lot, which is what a
return claws back from.

A gift rule's total is a unit of a catalog gift: it is taken from the reward's
stock as the event is evaluated (see ``patron.rewards.gifts``), before usage is
counted, so a gift that ran out leaves an ``out_of_stock`` note and uses none
of the rule's limits; ``write`` records a ``gift_grants`` row for each one given.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.earning import repository
from patron.events.schemas import Award, EventIn, GiftOutcome, Note, TierMove
from patron.errors import InvalidInput
from patron.ledger import domain as ledger_domain
from patron.ledger.domain import Lot
from patron.ledger.service import Earn, EntryMeta, earn_many
from patron.program.service import Program
from patron.program.versions import versions
from patron.rewards import gifts
from patron.rewards.gifts import GiftStock
from patron.program.catalog import BUILT_IN_EVENT_TYPES
from patron.program.compiled import CompiledProgram
from patron.program.context import (EventContext, MemberContext, MemberProfile, PeriodUsage,
                                  period_key)
from patron.program.engine import Evaluation, RuleTotal, evaluate, out_of_stock
from patron.program.incentives import Reward
from patron.tiers.service import TierTracker
from patron.wallet import service as wallet
from patron.wallet.service import WalletMove

_ZERO = PeriodUsage()


@dataclass
class Earned:
    """One event's evaluation, and what writing it produced."""

    member_id: int
    version: int
    program: CompiledProgram
    evaluation: Evaluation
    lots: list[Lot] = field(default_factory=list)
    """One new lot per rule total, in the order of ``evaluation.totals``."""
    outcome: list[Award] = field(default_factory=list)
    gifts: list[GiftOutcome] = field(default_factory=list)


class UnknownEventType(InvalidInput):
    code = "unknown_event_type"
    title = "Unknown event type"


class _Usage:
    """The limits' view of one member's usage in the periods of one event."""

    __slots__ = ("budget", "keys", "member_id", "used")

    def __init__(self, used: dict[tuple[int, str, str], list[int]], member_id: int,
                 keys: dict[str, str], budget: dict[str, int]) -> None:
        self.used, self.member_id, self.keys, self.budget = used, member_id, keys, budget

    def member_usage(self, rule_id: str, period: str) -> PeriodUsage:
        found = self.used.get((self.member_id, rule_id, self.keys[period]))
        return PeriodUsage(found[0], found[1]) if found else _ZERO

    def budget_used(self, rule_id: str) -> int:
        return self.budget.get(rule_id, 0)


class BatchEarning:
    """Evaluates a batch's events in order, keeping counts and usage current."""

    def __init__(self, conn: Connection, program: Program,
                 items: Sequence[tuple[int, EventIn]], now: datetime) -> None:
        self.conn, self.program = conn, program
        version_at = versions.resolver(conn, program)
        self.plans: list[tuple[int, CompiledProgram]] = [
            version_at(event.occurred_at) for _, event in items]
        member_ids = {member_id for member_id, _ in items}
        needs_member = any(compiled.plans.get(event.type) is not None
                           and compiled.plans[event.type].needs_context
                           for (_, compiled), (_, event) in zip(self.plans, items))
        self.profiles: dict[int, MemberProfile] = {}
        self.counts: dict[int, dict[str, int]] = defaultdict(dict)
        if needs_member and member_ids:
            for row in repository.member_rows(conn, program.id, member_ids):
                self.profiles[row.id] = MemberProfile(row.birthdate, row.region,
                                                      row.join_channel, row.attributes or {})
            self.counts.update(repository.event_counts(conn, program.id, member_ids))
        self.limited: dict[str, set[str]] = defaultdict(set)
        budgeted: set[str] = set()
        periods: set[str] = set()
        for (_, compiled), (_, event) in zip(self.plans, items):
            plan = compiled.plans.get(event.type)
            if plan is None:
                continue
            local = event.occurred_at.astimezone(compiled.zone)
            for rule_id, period in plan.usage_keys():
                self.limited[rule_id].add(period)
                periods.add(period_key(period, local))
            budgeted.update(plan.budgeted_rules())
        self.used = (repository.usage(conn, member_ids, self.limited, periods)
                     if self.limited else {})
        self.budget = repository.lock_budgets(conn, program.id, budgeted)
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
                 *, earn: bool = True) -> Earned:
        """Evaluate one event (raises ``InvalidEvent``); counts move on even if it earns nothing.

        An event that earns must be of a type its own version knows, since that version's
        rules judge it. One recorded without earning (history, ``earn=False``) may also be of
        a type the current version declares: a program that adds a custom type later can
        still take the older history of it, for analytics.
        """
        version, compiled = self.plans[index]
        if event.type not in self._known_types(version, compiled) and (
                earn or event.type not in self._known_types(*self.current)):
            raise UnknownEventType(
                f"{event.type!r} is neither a built-in event type nor declared in the program "
                f"(version {version if earn else self.current[0]}) under event_types",
                field="type")
        context = EventContext(event.type, event.occurred_at, event.data, event.channel,
                               event.id)
        counts = self.counts[member_id]
        tier, multipliers = self.tiers.context(member_id, event.occurred_at)
        member = MemberContext(str(member_id), self.profiles.get(member_id, MemberProfile()),
                               tier, counts, multipliers)
        if earn:
            plan = compiled.plans.get(event.type)
            keys: dict[str, str] = {}
            if plan is not None and plan.periods:
                local = event.occurred_at.astimezone(compiled.zone)
                keys = {period: period_key(period, local) for period in plan.periods}
            evaluation = evaluate(compiled, version, context, member,
                                  _Usage(self.used, member_id, keys, self.budget), now=now)
            if evaluation.gifts:
                evaluation = out_of_stock(evaluation, [
                    t.rule_id for t in evaluation.gifts if not self.stock.take(t.reward_id)])
            self._count_usage(member_id, evaluation, keys)
            self._qualify(member_id, event, compiled, evaluation)
        else:
            evaluation = Evaluation(version, event.type, event.id, now)
        counts[event.type] = counts.get(event.type, 0) + 1
        earned = Earned(member_id, version, compiled, evaluation)
        if evaluation.totals:
            settings = compiled.settings
            policy = settings.expiry_policy
            for total in evaluation.totals:
                if total.kind == "gift":
                    earned.lots.append(None)
                    continue
                if total.kind == "cashback":
                    held_until = cashback_held_until(total, settings, event.occurred_at)
                    earned.lots.append(None)
                    earned.outcome.append(Award(
                        member_id=member_id, kind="cashback", points=0, amount=total.points,
                        status="pending" if held_until else "posted", available_at=held_until,
                        reason=total.explanation, rule_id=total.rule_id,
                        program_version=version))
                    continue
                lot = ledger_domain.new_lot(
                    0, total.points, occurred_at=event.occurred_at, policy=policy,
                    pending_days=settings.pending_days if total.pending else None)
                earned.lots.append(lot)
                earned.outcome.append(self._award(earned, total, lot))
            if evaluation.gifts:
                earned.gifts = gifts.granted(version, evaluation.gifts,
                                             gifts.reward_names(compiled.document.rewards))
        return earned

    @staticmethod
    def _award(earned: Earned, total: RuleTotal, lot: Lot) -> Award:
        """What the outcome says of one rule's points, and of the lot that will hold them."""
        return Award(member_id=earned.member_id, kind="earn", points=total.points,
                     status="pending" if lot.state == ledger_domain.LotState.PENDING else "posted",
                     available_at=lot.available_at, expires_at=lot.expires_at,
                     reason=total.explanation,
                     rule_id=total.rule_id, program_version=earned.version)

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
        """Ledger earns, award rows and counters for evaluated events (with their pks)."""
        earns: list[Earn] = []
        owners: list[tuple[Earned, Any]] = []
        credits: list[WalletMove] = []
        credit_owners: list[tuple[Earned, Any]] = []
        for item, event_pk, event in earned:
            order_id = item.evaluation.purchase.order_id if item.evaluation.purchase else None
            for total, lot in zip(item.evaluation.totals, item.lots, strict=True):
                if total.kind == "gift":
                    continue
                details = {"rule": total.rule_id, "program_version": item.version}
                if total.capped_by:
                    details["capped_by"] = total.capped_by
                if total.kind == "cashback":
                    credits.append(WalletMove(
                        item.member_id, total.points, "cashback",
                        f"event:{event.id}:{total.rule_id}", total.explanation,
                        event.occurred_at, actor, event_pk, order_id, details,
                        available_at=cashback_held_until(total, item.program.settings,
                                                         event.occurred_at)))
                    credit_owners.append((item, total))
                    continue
                meta = EntryMeta(event.occurred_at, f"event:{event.id}:{total.rule_id}",
                                 total.explanation, actor, event_pk=event_pk, order_id=order_id,
                                 details=details)
                earns.append(Earn(item.member_id, total.points, total.pending, meta,
                                  item.program.settings, lot))
                owners.append((item, total))
        written = earn_many(self.conn, self.program, earns, now) if earns else []
        held = {(id(item), total.rule_id): done for (item, total), done in zip(owners, written)}
        credited = dict(zip(((id(item), total.rule_id) for item, total in credit_owners),
                            wallet.credit_many(self.conn, self.program, credits, now)))
        rows, cashback_rows, gift_rows = [], [], []
        for item, event_pk, event in earned:
            if item.evaluation.gifts:
                gift_rows += gifts.grant_rows(
                    self.program, item.member_id, event_pk, item.version, item.evaluation.gifts,
                    gifts.reward_names(item.program.document.rewards), now)
            for award in item.evaluation.awards:
                if award.kind == "gift":
                    continue
                if award.kind == "cashback":
                    cashback_rows.append(dict(
                        program_id=self.program.id, member_id=item.member_id,
                        event_id=event_pk, wallet_entry_id=credited[(id(item), award.rule_id)],
                        program_version=item.version, rule_id=award.rule_id,
                        rule_name=award.rule_name, line_index=award.line_index,
                        min_spend=award.min_spend, amount=award.points))
                    continue
                done = held[(id(item), award.rule_id)]
                rows.append(dict(
                    program_id=self.program.id, member_id=item.member_id, event_id=event_pk,
                    entry_id=done["entry_id"], lot_id=done["lot_id"],
                    program_version=item.version, rule_id=award.rule_id,
                    rule_name=award.rule_name, kind=award.kind, line_index=award.line_index,
                    min_spend=award.min_spend, points=award.points, pending=award.pending,
                    explanation=award.explanation, occurred_at=event.occurred_at))
        repository.insert_awards(self.conn, rows)
        repository.insert_cashback_awards(self.conn, cashback_rows)
        gifts.record(self.conn, gift_rows)
        self.tiers.write({event.id: pk for _, pk, event in earned}, now)
        repository.add_usage(self.conn, self.program.id,
                             {k: v for k, v in self.usage_added.items() if v[1]})
        repository.add_budget(self.conn, self.program.id,
                              {k: v for k, v in self.budget_added.items() if v})


def cashback_held_until(total: RuleTotal, settings: Any, occurred_at: datetime
                        ) -> datetime | None:
    """When a rule's cashback becomes spendable: a pending rule's (a purchase's, by
    default) waits out the return window as its points would; None is at once."""
    if not (total.pending and settings.pending_days):
        return None
    return ledger_domain.pending_until(occurred_at, settings.pending_days)


def notes_of(evaluation: Evaluation) -> list[Note]:
    return [Note(rule_id=n.rule_id, code=n.code, message=n.message) for n in evaluation.notes]
