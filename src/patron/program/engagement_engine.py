"""What one event does to a member's badges, challenges and streaks.

``engage`` is pure, like the earn engine: the event, the member after it, and the
member's progress go in; the progress moves in place, and what the member reads
(``Moved``: "May visits: 2 of 3 visits this month"), the rewards to give (``Grant``)
and notes come out. Ingest (``patron.engagement``) reads and writes the progress
around it, the simulator keeps it in memory; budgets and holdouts are the caller's
to answer (``Budgets``, ``held_out``), since they need the database or the member id.

- A **badge** (or a level of one) is earned at the first event of its types whose
  condition holds, once.
- A **challenge** counts an event inside its window, of one of its types, whose
  condition holds, from a member it is offered to (not held out; joined first, when
  it is opt-in, with only events after joining counting). Each goal (the window's,
  or each week's or month's with ``every``) completes once, and rewards once if its
  budget allows all of the reward; a completed goal counts nothing more.
- A **streak** counts one period (day or week, in the program timezone) at its
  first qualifying event. After missed periods it goes on if its ``grace`` has that
  many left (``missed`` per ``per`` periods of the streak, less those already
  forgiven), else it starts again at 1. An event dated before the last period
  counted changes nothing. A milestone rewards when the streak reaches its length,
  once per streak (``run`` numbers the streaks a member has begun).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from patron.program.activation import variables
from patron.program.cel import AbsentValue, Condition, make_context
from patron.program.context import EventContext, MemberContext, Purchase
from patron.program.engagement import ChallengeBudget, EngagementReward, Grace
from patron.program.engagement_plan import (BadgePlan, ChallengePlan, EngagementPlan,
                                            StreakPlan, TypePlan)
from patron.program.money import format_money

BADGE, CHALLENGE, STREAK, JOIN = "badge", "challenge", "streak", "join"
DONE = "done"
"""The goal of a challenge without ``every``, as its reward is recorded."""
Key = tuple[str, str, str]
"""(kind, item id, period): a row of a member's progress."""


@dataclass(slots=True)
class State:
    """A member's progress on one badge level, challenge goal, join or streak."""

    kind: str
    item_id: str
    period: str = ""
    """A challenge's goal (its week or month, "" for the window), a badge's level."""
    value: int = 0
    """A challenge's count, distinct values or sum; a streak's length."""
    seen: list[str] = field(default_factory=list)
    """A distinct goal's values so far."""
    last_period: int | None = None
    """A streak's last counted period (day or week number)."""
    forgiven: int = 0
    run: int = 0
    best: int = 0
    started_at: datetime | None = None
    """The first event counted (a streak: of the current streak); a join: when."""
    completed_at: datetime | None = None
    changed: bool = False

    @property
    def key(self) -> Key:
        return self.kind, self.item_id, self.period


MemberState = dict[Key, State]


class Budgets(Protocol):
    def take(self, challenge_id: str, cost: tuple[int, int],
             budget: ChallengeBudget) -> bool:
        """Whether the budget has room for all of ``cost`` (points, money); if so it is
        spent."""


@dataclass(frozen=True, slots=True)
class Moved:
    """A line of the event's outcome: what moved, as the member reads it."""

    kind: str
    id: str
    name: str
    status: str
    """badge: earned; challenge: progress, completed; streak: started, continued,
    restarted."""
    text: str
    value: int | None = None
    target: int | None = None
    key: str = ""
    """What was achieved, as its ``Grant`` names it: a badge's level, a challenge's goal,
    a streak's ``run:periods`` milestone ("" for mere progress)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A reward to give, once: ``key`` tells it apart from others of the same item."""

    kind: str
    item_id: str
    key: str
    name: str
    points: int
    coupon: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Note:
    item_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Counted:
    """What one event gave a badge, challenge goal or streak, kept so a return of the
    order can take it back (``patron.engagement.returns``)."""

    kind: str
    item_id: str
    period: str
    """As ``State.period``; a streak's: the period number the event counted in."""
    amount: int = 0
    """What it added to a challenge's count or sum."""
    seen: tuple[str, ...] = ()
    """A distinct goal's values the event brought (new or not)."""
    before: dict[str, Any] | None = None
    """A streak's progress before the event moved it on (None: the period had counted
    already, the event only qualified too)."""


@dataclass
class Engaged:
    moved: list[Moved] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    counted: list[Counted] = field(default_factory=list)


class _Inputs:
    """What activation getters read: the event, the member after it, the local time."""

    __slots__ = ("counted_types", "data_defaults", "event", "local", "member", "purchase")

    def __init__(self, plan: EngagementPlan, type_plan: TypePlan, event: EventContext,
                 member: MemberContext, purchase: Purchase | None) -> None:
        self.event, self.member, self.purchase = event, member, purchase
        self.local = event.occurred_at.astimezone(plan.zone)
        self.data_defaults = type_plan.data_defaults
        self.counted_types = plan.counted_types


def engage(plan: EngagementPlan, type_plan: TypePlan, event: EventContext,
           member: MemberContext, state: MemberState, purchase: Purchase | None, *,
           held_out: Callable[[str], bool], budgets: Budgets) -> Engaged:
    """Move ``state`` for one event (see the module docstring); ``member`` is the member
    after the event, ``purchase`` the event's parsed purchase."""
    inputs = _Inputs(plan, type_plan, event, member, purchase)
    context = make_context(variables(inputs, type_plan.event_reads, type_plan.nested_reads))
    out = Engaged()

    def holds(item_id: str, condition: Condition | None) -> bool:
        return condition is None or _holds(condition, context, item_id, out)

    for badge in type_plan.badges:
        _badge(plan, badge, event, state, out, holds)
    for challenge in type_plan.challenges:
        if (challenge.running(event.occurred_at) and not held_out(challenge.id)
                and _joined(challenge, state, event.occurred_at)
                and holds(challenge.id, challenge.condition)):
            _challenge(plan, challenge, inputs, state, out, budgets)
    for streak in type_plan.streaks:
        if holds(streak.id, streak.condition):
            _streak(plan, streak, inputs.local.date(), event.occurred_at, state, out)
    return out


def _holds(condition: Condition, context: Any, item_id: str, out: Engaged) -> bool:
    try:
        result = condition.runtime.execute(context)
    except Exception as exc:  # noqa: BLE001 - the CEL library raises several kinds
        error = condition.failure(exc)
        if not isinstance(error, AbsentValue):
            out.notes.append(Note(item_id, "condition_error",
                                  f"condition could not be evaluated ({error})"))
        return False
    return result is True


def _joined(challenge: ChallengePlan, state: MemberState, at: datetime) -> bool:
    if not challenge.opt_in:
        return True
    joined = state.get((JOIN, challenge.id, ""))
    return joined is not None and joined.started_at is not None and at >= joined.started_at


def _badge(plan: EngagementPlan, badge: BadgePlan, event: EventContext, state: MemberState,
           out: Engaged, holds: Callable[[str, Condition | None], bool]) -> None:
    key = (BADGE, badge.badge_id, badge.key)
    if key in state or not holds(badge.badge_id, badge.condition):
        return
    at = event.occurred_at
    state[key] = State(BADGE, badge.badge_id, badge.key, value=1, started_at=at,
                       completed_at=at, changed=True)
    given = reward_text(plan, badge.reward)
    text = f"Badge earned: {badge.title}" + (f", {given}" if given else "")
    out.moved.append(Moved(BADGE, badge.badge_id, badge.title, "earned", text, key=badge.key))
    out.counted.append(Counted(BADGE, badge.badge_id, badge.key))
    if badge.reward is not None:
        out.grants.append(_grant(BADGE, badge.badge_id, badge.key, badge.title,
                                 badge.reward, text))


def _challenge(plan: EngagementPlan, challenge: ChallengePlan, inputs: _Inputs,
               state: MemberState, out: Engaged, budgets: Budgets) -> None:
    at = inputs.event.occurred_at
    period = challenge.period(at, plan.zone)
    key = (CHALLENGE, challenge.id, period)
    progress = state.get(key)
    if progress is None:
        progress = state[key] = State(CHALLENGE, challenge.id, period)
    if progress.completed_at is not None:
        return
    before = progress.value
    brought = _count(challenge, progress, inputs)
    out.counted.append(Counted(CHALLENGE, challenge.id, period, progress.value - before,
                               tuple(brought)))
    progress.started_at = progress.started_at or at
    progress.changed = True
    if progress.value < challenge.target:
        out.moved.append(Moved(CHALLENGE, challenge.id, challenge.name, "progress",
                               challenge_text(plan, challenge, progress.value, period),
                               progress.value, challenge.target))
        return
    progress.completed_at = at
    counted = challenge_text(plan, challenge, progress.value, period, named=False,
                             dated=bool(challenge.every))
    done = f"{challenge.name}: done, {counted}"
    reward = challenge.reward
    if reward is not None and challenge.budget is not None and not budgets.take(
            challenge.id, challenge.cost, challenge.budget):
        out.notes.append(Note(challenge.id, "challenge_budget_exhausted",
                              f"{challenge.name}: its rewards have run out, nothing given"))
        reward, done = None, f"{done} (its rewards have run out)"
    given = reward_text(plan, reward)
    text = f"{done}, {given}" if given else done
    key_done = goal_key(period, progress.run)
    out.moved.append(Moved(CHALLENGE, challenge.id, challenge.name, "completed", text,
                           progress.value, challenge.target, key_done))
    if reward is not None:
        out.grants.append(_grant(CHALLENGE, challenge.id, key_done, challenge.name,
                                 reward, text))


def goal_key(period: str, reopened: int) -> str:
    """A challenge goal's reward key: its period (``done`` for the window), and after a
    return reopened it (``State.run`` counts those), which time it completes."""
    base = period or DONE
    return f"{base}#{reopened + 1}" if reopened else base


def _count(challenge: ChallengePlan, progress: State, inputs: _Inputs) -> list[str]:
    """Count the event towards the goal; a distinct goal's values it brought."""
    measure = challenge.measure
    if measure is None:
        progress.value += 1
        return []
    if measure.measure == "distinct":
        brought = measure.distinct(inputs.event, inputs.purchase, inputs.data_defaults)
        for value in brought:
            if value not in progress.seen and len(progress.seen) < challenge.target:
                progress.seen.append(value)
        progress.value = len(progress.seen)
        return brought
    progress.value += measure.amount(inputs.event, inputs.purchase, inputs.data_defaults)
    return []


def challenge_text(plan: EngagementPlan, challenge: ChallengePlan, value: int, period: str,
                   *, named: bool = True, dated: bool = True) -> str:
    """ "May visits: 2 of 3 visits this month", "$25.00 of $100.00 spent (until 31 May)"."""
    shown = min(value, challenge.target)
    if challenge.measure is not None and challenge.measure.money:
        amounts = (f"{format_money(shown, plan.currency)} of "
                   f"{format_money(challenge.target, plan.currency)}")
    else:
        amounts = f"{shown:,} of {challenge.target:,}"
    if not dated:
        when = ""
    elif challenge.every and period:
        when = f" this {challenge.every}"
    else:
        day = last_day(challenge.ends, plan)
        when = f" (until {day.day} {day:%b %Y})"
    text = f"{amounts} {challenge.unit}{when}"
    return f"{challenge.name}: {text}" if named else text


def last_day(ends: datetime, plan: EngagementPlan) -> date:
    """The last local day of a window that ends (exclusive) at ``ends``."""
    return (ends.astimezone(plan.zone) - timedelta(microseconds=1)).date()


# --- streaks -------------------------------------------------------------------------------


def period_index(period: str, day: date) -> int:
    """Day or week (Monday to Sunday) number of a local date: consecutive periods have
    consecutive numbers."""
    ordinal = day.toordinal()
    return ordinal if period == "day" else (ordinal - 1) // 7  # day 1 (1 Jan 1) is a Monday


def period_start(period: str, index: int) -> date:
    return date.fromordinal(index if period == "day" else index * 7 + 1)


def grace_left(grace: Grace | None, length: int, forgiven: int) -> int:
    """Missed periods a streak of ``length`` may still skip."""
    if grace is None:
        return 0
    return max(grace.missed * (length // grace.per) - forgiven, 0)


def _streak(plan: EngagementPlan, streak: StreakPlan, day: date, at: datetime,
            state: MemberState, out: Engaged) -> None:
    key = (STREAK, streak.id, "")
    progress = state.get(key)
    if progress is None:
        progress = state[key] = State(STREAK, streak.id)
    index = period_index(streak.period, day)
    last = progress.last_period
    if last is not None and index <= last:
        if index == last:  # counts already: kept, in case the event that counted goes back
            out.counted.append(Counted(STREAK, streak.id, str(index)))
        return  # this period counts already, or the event is older than the streak
    out.counted.append(Counted(STREAK, streak.id, str(index), before=snapshot(progress)))
    missed = index - last - 1 if last is not None else 0
    status = "continued"
    if last is None or missed > grace_left(streak.grace, progress.value, progress.forgiven):
        status = "started" if last is None else "restarted"
        progress.value, progress.forgiven, progress.run = 1, 0, progress.run + 1
        progress.started_at = at
    else:
        progress.value += 1
        progress.forgiven += missed
    progress.last_period, progress.best = index, max(progress.best, progress.value)
    progress.changed = True
    text = streak_text(streak, progress.value, status, missed if status == "continued" else 0)
    moved_at = len(out.moved)
    out.moved.append(Moved(STREAK, streak.id, streak.name, status, text, progress.value))
    for milestone in streak.milestones:
        if milestone.periods == progress.value:
            given = reward_text(plan, milestone.reward)
            text = f"{streak_text(streak, progress.value, status, 0)}, {given}"
            key = f"{progress.run}:{milestone.periods}"
            out.moved[moved_at] = Moved(STREAK, streak.id, streak.name, "milestone", text,
                                        progress.value, key=key)
            out.grants.append(_grant(STREAK, streak.id, key, milestone.name or streak.name,
                                     milestone.reward, text))


STREAK_FIELDS = ("value", "last_period", "forgiven", "run", "best", "started_at")


def snapshot(progress: State) -> dict[str, Any]:
    """A streak's progress as JSON can keep it."""
    values = {name: getattr(progress, name) for name in STREAK_FIELDS}
    values["started_at"] = progress.started_at.isoformat() if progress.started_at else None
    return values


def periods(streak: StreakPlan, count: int) -> str:
    return f"{count:,} {streak.period}{'' if count == 1 else 's'}"


def streak_text(streak: StreakPlan, length: int, status: str, forgiven: int) -> str:
    """ "Weekly coffee: 5 weeks in a row (1 missed week forgiven)"."""
    if status == "started":
        return f"{streak.name}: {periods(streak, 1)}, a streak begins"
    if status == "restarted":
        return f"{streak.name}: a new streak, {periods(streak, 1)}"
    text = f"{streak.name}: {periods(streak, length)} in a row"
    if forgiven:
        text += f" ({forgiven} missed {streak.period}{'' if forgiven == 1 else 's'} forgiven)"
    return text


# --- rewards -------------------------------------------------------------------------------


def fits(budget: ChallengeBudget, used: tuple[int, int], cost: tuple[int, int]) -> bool:
    """Whether all of a reward's ``cost`` (points, money) fits what the budget has left:
    a reward is given whole or not at all."""
    return ((budget.points is None or used[0] + cost[0] <= budget.points)
            and (budget.money is None or used[1] + cost[1] <= budget.money))


def reward_text(plan: EngagementPlan, reward: EngagementReward | None) -> str:
    """ "+100 Beans and $5 off your next order"; "" for none."""
    if reward is None:
        return ""
    parts = []
    if reward.points:
        parts.append(f"+{reward.points:,} {plan.points_name}")
    if reward.coupon:
        parts.append(plan.coupon_names.get(reward.coupon, reward.coupon))
    return " and ".join(parts)


def _grant(kind: str, item_id: str, key: str, name: str, reward: EngagementReward,
           text: str) -> Grant:
    return Grant(kind, item_id, key, name, reward.points or 0, reward.coupon, text)
