"""What a replay's badges, challenges and streaks would give and cost, beside the simulator.

The replay runs every event through the same ``engage`` ingest runs, with each
member's progress kept in memory, so a draft's badge, challenge or streak shows the
points and coupons it would give and what they cost: points at the point value, a
coupon at its fixed money off (a percent coupon's value is only known at checkout,
so it counts 0). Their points are part of the report's totals.

Progress starts empty at the start of the replay, except badges the caller says a
member already held (``held``). Who is in a challenge's holdout is the caller's to
say (``held_out``: member key, challenge id), since it needs the member's id. An
opt-in challenge is replayed as if every member joined when it opened: an upper
bound on its cost. Challenge budgets start unspent and stop rewards where a live
budget would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from patron.program.context import EventContext, MemberContext, Purchase
from patron.program.document import ProgramDocument
from patron.program.engagement import ChallengeBudget
from patron.program.engagement_engine import (BADGE, CHALLENGE, JOIN, STREAK, MemberState,
                                              State, engage, fits)
from patron.program.engagement_plan import EngagementPlan, engagement_plan
from patron.program.money import points_value_minor

ACHIEVED = frozenset({"earned", "completed", "milestone"})


@dataclass
class EngagementReport:
    kind: str
    item_id: str
    name: str
    achieved: int = 0
    """Badges (levels) earned, goals completed, milestones reached."""
    members: int = 0
    points_issued: int = 0
    coupons: int = 0
    coupon_money: int = 0
    cost_minor: int = 0
    """Points at the point value plus the coupons' fixed value."""
    budget_cutoffs: int = 0
    """Completions that found the challenge's budget spent: no reward."""


class EngagementTally:
    """Each member's progress during a replay, and what each item gave."""

    def __init__(self, document: ProgramDocument,
                 held_out: Callable[[str, str], bool] | None = None) -> None:
        self.plan: EngagementPlan = engagement_plan(document)
        self.point_value = document.settings.point_value_minor
        self.coupon_values = {c.id: c.discount.amount or 0 for c in document.coupons}
        self.held_out = held_out
        self.held: Callable[[str], Iterable[tuple[str, str]]] | None = None
        """Member key → badges (badge id, level) held before the replay: not given again."""
        self.states: dict[str, MemberState] = {}
        self.used: dict[str, tuple[int, int]] = {}
        self.reports: dict[tuple[str, str], EngagementReport] = {}
        self.members: dict[tuple[str, str], set[str]] = {}
        for kind, items in ((BADGE, document.badges), (CHALLENGE, document.challenges),
                            (STREAK, document.streaks)):
            for item in items:
                if item.active:
                    self.reports[(kind, item.id)] = EngagementReport(kind, item.id, item.name)
                    self.members[(kind, item.id)] = set()

    @property
    def empty(self) -> bool:
        return not self.reports

    def take(self, challenge_id: str, cost: tuple[int, int], budget: ChallengeBudget) -> bool:
        used = self.used.get(challenge_id, (0, 0))
        if not fits(budget, used, cost):
            return False
        self.used[challenge_id] = (used[0] + cost[0], used[1] + cost[1])
        return True

    def feed(self, key: str, event: EventContext, member: MemberContext,
             purchase: Purchase | None) -> int:
        """Run one event (``member``: after it); the points its rewards give."""
        type_plan = self.plan.plan(event.type)
        if type_plan is None:
            return 0
        held_out = self.held_out
        engaged = engage(self.plan, type_plan, event, member, self._state(key), purchase,
                         held_out=(lambda challenge_id: held_out(key, challenge_id))
                         if held_out is not None else (lambda _: False), budgets=self)
        points = 0
        for grant in engaged.grants:
            report = self.reports[(grant.kind, grant.item_id)]
            report.points_issued += grant.points
            points += grant.points
            if grant.coupon:
                report.coupons += 1
                report.coupon_money += self.coupon_values.get(grant.coupon, 0)
        for moved in engaged.moved:
            if moved.status in ACHIEVED:
                self.reports[(moved.kind, moved.id)].achieved += 1
                self.members[(moved.kind, moved.id)].add(key)
        for note in engaged.notes:
            if note.code == "challenge_budget_exhausted":
                self.reports[(CHALLENGE, note.item_id)].budget_cutoffs += 1
        return points

    def _state(self, key: str) -> MemberState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = {
                (JOIN, c.id, ""): State(JOIN, c.id, started_at=c.starts)
                for c in self.plan.challenges.values() if c.opt_in}
            for badge_id, level in self.held(key) if self.held is not None else ():
                state[(BADGE, badge_id, level)] = State(BADGE, badge_id, level, value=1)
        return state

    def report(self) -> list[EngagementReport]:
        for item, report in self.reports.items():
            report.members = len(self.members[item])
            report.cost_minor = (points_value_minor(report.points_issued, self.point_value)
                                 + report.coupon_money)
        return list(self.reports.values())

    @property
    def points_issued(self) -> int:
        return sum(r.points_issued for r in self.reports.values())

    @property
    def coupon_money(self) -> int:
        return sum(r.coupon_money for r in self.reports.values())
