"""Rewards ready: telling a member when their points first reach a reward's cost.

A reward is *ready* for a member when their available points cross its cost: below it
before a change, at or above it after (``crossed``). Each crossing is told once
(``hooks.RewardsReady``), only for rewards the member may redeem now points aside (on
offer today, their tier, plan and condition, their limit, in stock), and not again
while the balance stays above; a member who spends below the cost and earns back
above it hears of it again. The crossing is read from the change itself
(``hooks.PointsAvailable``: the balance before and after), so nothing is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from patron import hooks
from patron.program.incentives import Reward
from patron.program.service import Program
from patron.rewards import domain, eligibility
from patron.rewards.service import compiled_now


def crossed(rewards: Iterable[Reward], before: int, after: int) -> list[Reward]:
    """The rewards whose cost ``after`` reaches and ``before`` did not."""
    return [reward for reward in rewards if before < reward.cost_points <= after]


def ready(conn: Connection, program: Program, rises: Sequence[hooks.BalanceRise]
          ) -> list[hooks.ReadyReward]:
    """The rewards each rise makes ready for its member."""
    compiled = compiled_now(conn, program)
    holders = domain.benefit_holders(compiled.document)
    found: list[hooks.ReadyReward] = []
    for rise in rises:
        now = rise.at
        offered = [reward for reward in crossed(compiled.document.rewards, rise.before,
                                                rise.after)
                   if reward.cost_points > 0
                   and domain.window_refusal(reward, now, compiled.zone) is None]
        if not offered:
            continue
        standings = eligibility.standings(conn, program, compiled, rise.member_id, offered,
                                          holders, rise.after, now)
        found.extend(
            hooks.ReadyReward(rise.member_id, reward.id, reward.name, reward.cost_points,
                              rise.after, now)
            for reward in offered
            if not domain.refusals(reward, holders.get(reward.id), standings[reward.id], now,
                                   compiled.zone))
    return found


def on_points_available(conn: Connection, happened: hooks.PointsAvailable) -> None:
    found = ready(conn, happened.program, happened.rises)
    if found:
        hooks.emit(conn, hooks.RewardsReady(happened.program, tuple(found)))
