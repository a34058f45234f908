"""A member's badges, challenges and streaks as they stand at a moment, in words.

Pure: the program's engagement plan, the member's progress rows and ``now`` go in,
the views the API, the console and the portal show come out. The sentences are the
ones ingest writes into each event's outcome (``patron.program.engagement_engine``),
read at ``now``: a streak whose member missed more periods than its grace allows
shows as ended, though its row still holds the old length until the next action.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from patron.campaigns.domain import status
from patron.engagement.schemas import (BadgeLevel, MemberBadge, MemberChallenge, MemberStreak,
                                       NextMilestone, Reward)
from patron.program.engagement import Badge, EngagementReward
from patron.program.engagement_engine import (BADGE, CHALLENGE, JOIN, STREAK, MemberState,
                                              challenge_text, grace_left, period_index,
                                              period_start, periods, reward_text)
from patron.program.engagement_plan import ChallengePlan, EngagementPlan, StreakPlan


def reward_view(plan: EngagementPlan, reward: EngagementReward | None) -> Reward | None:
    if reward is None:
        return None
    return Reward(points=reward.points, coupon=reward.coupon, text=reward_text(plan, reward))


def badge_view(plan: EngagementPlan, badge: Badge, state: MemberState) -> MemberBadge:
    levels = [BadgeLevel(id=key, name=name,
                         earned_at=(held.completed_at if (held := state.get((BADGE, badge.id,
                                                                             key))) else None),
                         reward=reward_view(plan, reward))
              for key, name, _, reward in badge.steps()]
    earned = [level for level in levels if level.earned_at is not None]
    if earned:
        names = ", ".join(level.name for level in earned) if badge.levels else badge.name
        text = f"Badge earned: {names}" if not badge.levels else f"{badge.name}: {names}"
    else:
        text = badge.description or f"{badge.name}: not earned yet"
    return MemberBadge(id=badge.id, name=badge.name, description=badge.description,
                       earned=bool(earned),
                       earned_at=min((lv.earned_at for lv in earned if lv.earned_at),
                                     default=None),
                       levels=levels, text=text)


def challenge_view(plan: EngagementPlan, challenge: ChallengePlan, description: str | None,
                   state: MemberState, now: datetime) -> MemberChallenge | None:
    """The goal now (running), the first (upcoming) or the last (ended); None for an
    ended challenge the member took no part in."""
    stage = status(challenge.starts, challenge.ends, now)
    shown_at = min(max(now, challenge.starts), challenge.ends - timedelta(microseconds=1))
    period = challenge.period(shown_at, plan.zone)
    progress = state.get((CHALLENGE, challenge.id, period))
    took_part = any(key[:2] == (CHALLENGE, challenge.id) for key in state)
    if stage == "ended" and not took_part:
        return None
    joined = state.get((JOIN, challenge.id, ""))
    is_in = not challenge.opt_in or joined is not None
    value = progress.value if progress else 0
    completed = progress.completed_at if progress else None
    if completed is not None:
        counted = challenge_text(plan, challenge, value, period, named=False,
                                 dated=bool(challenge.every))
        text = f"{challenge.name}: done, {counted}"
    elif stage == "upcoming":
        first = challenge.starts.astimezone(plan.zone).date()
        text = f"{challenge.name}: starts {first.day} {first:%b %Y}"
    elif stage == "ended":
        counted = challenge_text(plan, challenge, value, period, named=False, dated=False)
        text = f"{challenge.name}: ended at {counted}"
    else:
        text = challenge_text(plan, challenge, value, period)
    if not is_in and stage != "ended":
        text += "; join to take part"
    return MemberChallenge.model_validate(dict(
        id=challenge.id, name=challenge.name, description=description, status=stage,
        starts=challenge.starts, ends=challenge.ends, every=challenge.every,
        period=period or None, opt_in=challenge.opt_in, joined=is_in,
        joined_at=joined.started_at if joined else None, value=value,
        target=challenge.target, unit=challenge.unit, completed_at=completed,
        reward=reward_view(plan, challenge.reward), text=text))


def streak_view(plan: EngagementPlan, streak: StreakPlan, description: str | None,
                state: MemberState, now: datetime) -> MemberStreak:
    progress = state.get((STREAK, streak.id, ""))
    today = now.astimezone(plan.zone).date()
    current = period_index(streak.period, today)
    last = progress.last_period if progress else None
    length, best = (progress.value, progress.best) if progress else (0, 0)
    left = grace_left(streak.grace, length, progress.forgiven if progress else 0)
    done = last is not None and last >= current
    missed = current - last - 1 if last is not None and not done else 0
    alive = last is not None and (done or missed <= left)
    keep_by = None
    if alive and not done:
        # acting in any period up to the last one grace still covers keeps it going
        keep_by = period_start(streak.period, last + left + 2) - timedelta(days=1)
    if not alive:
        length = 0
    next_one = next((m for m in streak.milestones if m.periods > length), None)
    return MemberStreak.model_validate(dict(
        id=streak.id, name=streak.name, description=description, period=streak.period,
        length=length, best=best, alive=alive, this_period_done=done, keep_by=keep_by,
        grace_left=left if alive else 0,
        next_milestone=NextMilestone(periods=next_one.periods,
                                     remaining=next_one.periods - length,
                                     reward=reward_view(plan, next_one.reward))
        if next_one else None,
        text=_streak_text(streak, length, done, keep_by, last is not None)))


def _streak_text(streak: StreakPlan, length: int, done: bool, keep_by: date | None,
                 started: bool) -> str:
    if length and done:
        return (f"{streak.name}: {periods(streak, length)} in a row; this {streak.period} "
                "counts already")
    if length and keep_by is not None:
        return (f"{streak.name}: {periods(streak, length)} in a row; keep it going by "
                f"{keep_by:%A} {keep_by.day} {keep_by:%b}")
    if started:
        return f"{streak.name}: the streak ended; start a new one"
    return f"{streak.name}: no streak yet"


def challenges_of(plan: EngagementPlan, descriptions: dict[str, str | None],
                  state: MemberState, now: datetime,
                  held_out: Callable[[ChallengePlan], bool]) -> list[MemberChallenge]:
    """The member's challenges: every one offered to them, except ended ones they took
    no part in; running first, then upcoming, then ended."""
    views = [view for challenge in plan.challenges.values() if not held_out(challenge)
             if (view := challenge_view(plan, challenge, descriptions.get(challenge.id),
                                        state, now)) is not None]
    order = {"running": 0, "upcoming": 1, "ended": 2}
    return sorted(views, key=lambda v: (order[v.status], v.ends))
