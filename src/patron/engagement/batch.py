"""Badges, challenges and streaks of one ingest batch, beside its earn rules.

The earning flow (``patron.flows.earning``) makes one ``BatchEngagement`` per batch,
among its earning steps. Of the batch's events, those whose type can move a badge,
challenge or streak of their program version have their members' progress read in
one statement; a batch with none (or a program without such sections) reads and
writes nothing. Each event is then run through ``engage`` as it is evaluated (after
its earn rules, with the member after it), so its outcome carries what moved
("May visits: 2 of 3 visits this month") and the points rewards gave. When the batch
is written, the progress that moved is written in one statement, and the rewards
are given: a row each in ``engagement_awards`` (unique per member and reward, so a
retried or racing event can never give one twice: the loser's transaction runs
again and finds it given), a ledger entry naming the badge, challenge or streak,
and a coupon.

Ingest holds the batch's members' account locks (PostgreSQL) or the database's one
writer (SQLite) before this reads, so two batches of one member move their progress
one after the other. A challenge's budget row is locked when a completion first
asks it for room, and spent at write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.campaigns.domain import assign
from patron.coupons.service import CouponTypeExpired, CouponTypeNotFound, issue
from patron.engagement import repository
from patron.events.schemas import Award, EventIn, Note, Progress
from patron.ledger import domain as ledger_domain
from patron.ledger.domain import Lot
from patron.ledger.holdings import Holding
from patron.ledger.service import Earn, EntryMeta, earn_many
from patron.program.catalog import PURCHASE
from patron.program.compiled import CompiledProgram
from patron.program.context import (EventContext, InvalidEvent, MemberContext, Purchase,
                                    parse_purchase)
from patron.program.engagement import ChallengeBudget
from patron.program.engagement_engine import Counted, Grant, engage, fits
from patron.program.engagement_plan import EngagementPlan, TypePlan, engagement_plan
from patron.program.service import Program

ACHIEVED = frozenset({"earned", "completed", "milestone"})
StepEvent = tuple[int, CompiledProgram, int, EventIn]
"""(program version, its compiled program, member id, event), as the earning flow gives."""


def held_out(program_id: int, challenge_id: str, member_id: int, holdout: Any) -> bool:
    """Whether the member is in a challenge's holdout: the campaigns' hash buckets, on
    ``challenge:<id>`` so a campaign and a challenge of one id do not share them."""
    return holdout > 0 and assign(program_id, f"challenge:{challenge_id}", member_id,
                                  holdout)[1] == "holdout"


class LiveBudgets:
    """Challenge budgets as ingest spends them: a row locked on first use, then kept."""

    def __init__(self, conn: Connection, program_id: int) -> None:
        self.conn, self.program_id = conn, program_id
        self.used: dict[str, tuple[int, int]] = {}
        self.added: dict[str, tuple[int, int]] = {}

    def take(self, challenge_id: str, cost: tuple[int, int], budget: ChallengeBudget) -> bool:
        used = self.used.get(challenge_id)
        if used is None:
            used = repository.locked_budget(self.conn, self.program_id, "challenge",
                                            challenge_id)
        if not fits(budget, used, cost):
            self.used[challenge_id] = used
            return False
        self.used[challenge_id] = (used[0] + cost[0], used[1] + cost[1])
        added = self.added.get(challenge_id, (0, 0))
        self.added[challenge_id] = (added[0] + cost[0], added[1] + cost[1])
        return True


@dataclass(frozen=True)
class _Given:
    member_id: int
    version: int
    compiled: CompiledProgram
    event: EventIn
    grant: Grant
    lot: Lot | None


class BatchEngagement:
    """One batch's engagement: read once, moved per event, written once."""

    def __init__(self, conn: Connection, program: Program, events: Sequence[StepEvent],
                 now: datetime, *, held: Mapping[int, Holding] | None = None) -> None:
        self.conn, self.program, self.held = conn, program, held
        self.plans: list[tuple[EngagementPlan, TypePlan] | None] = []
        members: set[int] = set()
        items: set[str] = set()
        for _, compiled, member_id, event in events:
            plan = engagement_plan(compiled.document)
            type_plan = plan.plan(event.type)
            self.plans.append((plan, type_plan) if type_plan is not None else None)
            if type_plan is not None:
                members.add(member_id)
                items.update(_items(type_plan))
        self.state = repository.states(conn, program.id, members, items) if members else {}
        self.budgets = LiveBudgets(conn, program.id)
        self.given: list[_Given] = []
        self.achieved: list[hooks.Achievement] = []
        self.counted: list[tuple[int, str, Counted]] = []
        """(member, event id, what it gave) of purchases, for their returns."""

    def needs(self) -> tuple[bool, bool, bool]:
        """Whether the batch's conditions read the member (profile, counts), their
        features and their recommendations, which the earning flow then loads."""
        plans = [found[1] for found in self.plans if found is not None]
        return (any(p.needs_member for p in plans), any(p.needs_features for p in plans),
                any(p.needs_recommended for p in plans))

    def evaluate(self, index: int, version: int, compiled: CompiledProgram,
                 member: MemberContext, member_id: int, event: EventIn,
                 purchase: Purchase | None) -> tuple[list[Award], list[Progress], list[Note]]:
        """What the event moves: the awards (points) and progress lines of its outcome,
        and notes (a challenge whose budget ran out)."""
        found = self.plans[index]
        if found is None:
            return [], [], []
        plan, type_plan = found
        if purchase is None and event.type == PURCHASE:
            purchase = _purchase(event, plan)
        context = EventContext(event.type, event.occurred_at, event.data, event.channel,
                               event.id)
        program_id = self.program.id
        engaged = engage(plan, type_plan, context, member, self.state.setdefault(member_id, {}),
                         purchase, budgets=self.budgets,
                         held_out=lambda challenge_id: held_out(
                             program_id, challenge_id, member_id,
                             plan.challenges[challenge_id].holdout))
        if event.type == PURCHASE:
            self.counted += [(member_id, event.id, counted) for counted in engaged.counted]
        awards = [self._give(member_id, version, compiled, event, grant)
                  for grant in engaged.grants]
        rewards = {(g.kind, g.item_id, g.key): g for g in engaged.grants}
        for moved in engaged.moved:
            if moved.status in ACHIEVED:
                grant = rewards.get((moved.kind, moved.id, moved.key))
                self.achieved.append(hooks.Achievement(
                    member_id, moved.kind, moved.id, moved.key, moved.name,
                    moved.text, grant.points if grant else 0,
                    grant.coupon if grant else None, event.occurred_at))
        progress = [Progress.model_validate(dict(
            kind=m.kind, id=m.id, name=m.name, status=m.status, value=m.value,
            target=m.target, text=m.text)) for m in engaged.moved]
        return ([award for award in awards if award is not None], progress,
                [Note(rule_id=n.item_id, code=n.code, message=n.message)
                 for n in engaged.notes])

    def _give(self, member_id: int, version: int, compiled: CompiledProgram, event: EventIn,
              grant: Grant) -> Award | None:
        """Keep the reward for writing; its points as the outcome's award."""
        lot = None
        if grant.points:
            lot = ledger_domain.new_lot(0, grant.points, occurred_at=event.occurred_at,
                                        policy=compiled.settings.expiry_policy,
                                        pending_days=None)
        self.given.append(_Given(member_id, version, compiled, event, grant, lot))
        if lot is None:
            return None
        return Award(member_id=member_id, kind=grant.kind, points=grant.points,
                     status="posted", available_at=lot.available_at,
                     expires_at=lot.expires_at, reason=grant.text, rule_id=grant.item_id,
                     program_version=version)

    def write(self, recorded: Mapping[str, int], actor: str, now: datetime) -> None:
        """The moved progress, budgets spent and rewards given, once the batch's events
        are recorded (``recorded``: event id → row id)."""
        changed = [(member_id, state) for member_id, states in self.state.items()
                   for state in states.values() if state.changed]
        repository.save_states(self.conn, self.program.id, changed, now)
        if self.budgets.added:
            repository.add_budget(self.conn, self.program.id, "challenge", self.budgets.added)
        if self.counted:
            repository.insert_contributions(self.conn, [dict(
                program_id=self.program.id, member_id=member_id, event_id=recorded[event_id],
                kind=c.kind, item_id=c.item_id, period=c.period, amount=c.amount,
                seen=list(c.seen) or None, before=c.before)
                for member_id, event_id, c in self.counted])
        if self.given:
            self._write_rewards(recorded, actor, now)
        if self.achieved:
            hooks.emit(self.conn, hooks.EngagementAchieved(self.program,
                                                           tuple(self.achieved)))

    def _write_rewards(self, recorded: Mapping[str, int], actor: str, now: datetime) -> None:
        with_points = [g for g in self.given if g.lot is not None]
        earns = [Earn(g.member_id, g.grant.points, False, EntryMeta(
            g.event.occurred_at, ledger_key(g.member_id, g.grant), g.grant.text, actor,
            event_pk=recorded[g.event.id],
            details={g.grant.kind: g.grant.item_id, "award": g.grant.key,
                     "program_version": g.version}), g.compiled.settings, g.lot)
            for g in with_points]
        written = earn_many(self.conn, self.program, earns, now, held=self.held)
        entries = {id(g): done["entry_id"] for g, done in zip(with_points, written)}
        rows = []
        for given in self.given:
            grant = given.grant
            rows.append(dict(
                program_id=self.program.id, member_id=given.member_id, kind=grant.kind,
                item_id=grant.item_id, award_key=grant.key, name=grant.name[:200],
                explanation=grant.text[:500], points=grant.points,
                coupon_type=grant.coupon, coupon_code=self._coupon(given, now),
                entry_id=entries.get(id(given)), event_id=recorded[given.event.id],
                program_version=given.version, awarded_at=given.event.occurred_at))
        repository.insert_awards(self.conn, rows)

    def _coupon(self, given: _Given, now: datetime) -> str | None:
        """The reward's coupon, of the current version's terms; none when the program
        no longer has that coupon type (or its codes would be expired already)."""
        grant = given.grant
        if grant.coupon is None:
            return None
        try:
            return issue(self.conn, self.program, grant.coupon, member_id=given.member_id,
                         now=now, source=f"{grant.kind}:{grant.item_id}").code
        except (CouponTypeNotFound, CouponTypeExpired):
            return None


def ledger_key(member_id: int, grant: Grant) -> str:
    """The ledger entry's idempotency key: one per member and reward (a household pool's
    account holds several members' entries)."""
    return f"{grant.kind}:{grant.item_id}:{grant.key}:{member_id}"


def _items(type_plan: TypePlan) -> set[str]:
    """The item ids whose rows an event of this type reads (an opt-in challenge's join
    row has the challenge's id too)."""
    return ({b.badge_id for b in type_plan.badges} | {c.id for c in type_plan.challenges}
            | {s.id for s in type_plan.streaks})


def _purchase(event: EventIn, plan: EngagementPlan) -> Purchase | None:
    try:
        return parse_purchase(event.data, plan.currency)
    except InvalidEvent:
        return None

