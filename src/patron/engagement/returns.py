"""What a return takes back of the badges, challenges and streaks its order moved.

Pure: what the order's purchase gave (``Contribution``, kept at ingest), the member's
progress, and the order's lines as they stood before and after this return go in;
the progress moves in place, and what the member reads and which rewards lose
their points come out.

- A **challenge** goal loses what the returned goods brought: a count goal the
  order's 1 once every line is back; a sum over lines what the returned lines
  added (a sum of an event field, all of it once every line is back); a distinct
  goal the values no kept line and no other purchase still brings. A completed
  goal that falls below its target opens again and its reward's points go back;
  completing it again rewards again (``State.run`` counts the reopenings, so the
  new reward has a key of its own). The challenge's budget keeps what it spent.
- A **streak** loses the period the order counted, once every line is back and no
  other purchase of that period qualified: if it was the streak's latest period
  the streak is as it was before the order, and a milestone the order reached
  gives its points back (the streak counts as a new run from there, so reaching
  the milestone again rewards again). A period that later periods were counted on
  stays: breaking a streak after the fact is not what members expect.
- A **badge** stays earned: it was shown, and it marks what the member did. Its
  points go back once every line of the order that earned it is back, as any
  points that order earned do.

Conditions are not evaluated again: a purchase that counted keeps counting for what
it still holds.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patron.program.context import Purchase
from patron.program.engagement_engine import (BADGE, CHALLENGE, STREAK, MemberState, State,
                                              challenge_text, goal_key, periods)
from patron.program.engagement_plan import ChallengePlan, EngagementPlan


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one purchase gave one badge, challenge goal or streak (a stored row)."""

    id: int
    kind: str
    item_id: str
    period: str
    amount: int
    seen: tuple[str, ...] = ()
    before: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Reversal:
    """A reward whose points go back: its award key, and what the member reads."""

    kind: str
    item_id: str
    key: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class Told:
    kind: str
    id: str
    name: str
    text: str
    value: int | None = None
    target: int | None = None


@dataclass
class TakenBack:
    progress: list[Told] = field(default_factory=list)
    reversals: list[Reversal] = field(default_factory=list)
    changed: list[State] = field(default_factory=list)
    settled: list[int] = field(default_factory=list)
    """Contributions fully taken back (kept, marked, so another return skips them)."""


def remaining(purchase: Purchase, returned: Mapping[int, int]) -> Purchase:
    """The purchase with ``returned`` quantities of its lines taken out, amounts shared
    as the returned quantity is."""
    lines = []
    for line in purchase.lines:
        left = line.quantity - returned.get(line.index, 0)
        if left <= 0:
            continue
        lines.append(line._replace(quantity=left,
                                   amount=line.amount * left // line.quantity,
                                   net_amount=line.net_amount * left // line.quantity))
    return Purchase(purchase.order_id, purchase.currency,
                    sum(line.net_amount for line in lines), tuple(lines))


def take_back(plan: EngagementPlan, order_id: str, given: Sequence[Contribution],
              state: MemberState, kept_elsewhere: Collection[tuple[str, str, str, str]],
              before: Purchase, after: Purchase, *, awarded: Collection[tuple[str, str, str]],
              badge_names: Mapping[str, str]) -> TakenBack:
    """Take back what the order gave (see the module docstring). ``kept_elsewhere``:
    (kind, item, period, value) other standing purchases brought (value "" for a
    streak's period); ``awarded``: (kind, item, key) of rewards given and standing."""
    out = TakenBack()
    whole = not after.lines
    why = f"order {order_id} returned"
    for contribution in given:
        if contribution.kind == CHALLENGE:
            challenge = plan.challenges.get(contribution.item_id)
            progress = state.get((CHALLENGE, contribution.item_id, contribution.period))
            if challenge is not None and progress is not None:
                _challenge(plan, challenge, contribution, progress, kept_elsewhere, before,
                           after, awarded, why, out)
            if whole:
                out.settled.append(contribution.id)
        elif not whole:
            continue
        elif contribution.kind == STREAK:
            _streak(plan, contribution, state, kept_elsewhere, awarded, why, out)
            out.settled.append(contribution.id)
        elif contribution.kind == BADGE:
            name = badge_names.get(contribution.item_id, contribution.item_id)
            key = (BADGE, contribution.item_id, contribution.period)
            if key in awarded:
                out.reversals.append(Reversal(*key, name, f"Badge {name}: {why}"))
                out.progress.append(Told(BADGE, contribution.item_id, name,
                                          f"Badge {name} stays earned; its points go back"))
            out.settled.append(contribution.id)
    return out


def _challenge(plan: EngagementPlan, challenge: ChallengePlan, contribution: Contribution,
               progress: State, kept_elsewhere: Collection[tuple[str, str, str, str]],
               before: Purchase, after: Purchase,
               awarded: Collection[tuple[str, str, str]], why: str, out: TakenBack) -> None:
    measure = challenge.measure
    whole = not after.lines
    was = progress.value
    if measure is None:
        progress.value -= contribution.amount if whole else 0
    elif measure.measure == "distinct":
        kept = set(measure.distinct(_NO_EVENT, after, {})) if measure.root == "line" else (
            set() if whole else set(contribution.seen))
        for value in contribution.seen:
            elsewhere = (CHALLENGE, challenge.id, contribution.period, value) in kept_elsewhere
            if value not in kept and not elsewhere and value in progress.seen:
                progress.seen.remove(value)
        progress.value = len(progress.seen)
    elif measure.root == "line":
        progress.value -= min(measure.amount(_NO_EVENT, before, {})
                              - measure.amount(_NO_EVENT, after, {}), contribution.amount)
    else:
        progress.value -= contribution.amount if whole else 0
    progress.value = max(progress.value, 0)
    if progress.value == was:
        return
    progress.changed = True
    text = challenge_text(plan, challenge, progress.value, contribution.period)
    if progress.completed_at is not None and progress.value < challenge.target:
        key = goal_key(contribution.period, progress.run)
        progress.completed_at, progress.run = None, progress.run + 1
        if (CHALLENGE, challenge.id, key) in awarded:
            out.reversals.append(Reversal(CHALLENGE, challenge.id, key, challenge.name,
                                          f"{challenge.name}: {why}, no longer done"))
        text = f"{text}; no longer done, {why}"
    else:
        text = f"{text} ({why})"
    out.changed.append(progress)
    out.progress.append(Told(CHALLENGE, challenge.id, challenge.name, text, progress.value,
                              challenge.target))


def _streak(plan: EngagementPlan, contribution: Contribution, state: MemberState,
            kept_elsewhere: Collection[tuple[str, str, str, str]],
            awarded: Collection[tuple[str, str, str]], why: str, out: TakenBack) -> None:
    streak = plan.streaks.get(contribution.item_id)
    progress = state.get((STREAK, contribution.item_id, ""))
    if (streak is None or progress is None or contribution.before is None
            or progress.last_period != int(contribution.period)
            or (STREAK, streak.id, contribution.period, "") in kept_elsewhere):
        return
    reached = progress.run, progress.value
    old = contribution.before
    progress.value, progress.last_period = old["value"], old["last_period"]
    progress.forgiven, progress.best = old["forgiven"], old["best"]
    progress.started_at = (datetime.fromisoformat(old["started_at"]) if old["started_at"]
                           else None)
    progress.run = reached[0] + 1
    progress.changed = True
    out.changed.append(progress)
    for milestone in streak.milestones:
        key = f"{reached[0]}:{milestone.periods}"
        if milestone.periods == reached[1] and (STREAK, streak.id, key) in awarded:
            out.reversals.append(Reversal(STREAK, streak.id, key,
                                          milestone.name or streak.name,
                                          f"{streak.name}: {why}, milestone of "
                                          f"{periods(streak, milestone.periods)} undone"))
    text = (f"{streak.name}: {periods(streak, progress.value)} in a row ({why})"
            if progress.value else f"{streak.name}: no streak ({why})")
    out.progress.append(Told(STREAK, streak.id, streak.name, text, progress.value))


class _NoEvent:
    """Line measures read only the purchase."""

    channel = None
    data: Mapping[str, Any] = {}


_NO_EVENT: Any = _NoEvent()
