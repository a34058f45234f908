"""Recommendations as plain data: the reason beside each item, and which stored reward
may still be shown.

A reward is chosen for a member only among those the rewards domain says they
may redeem (``patron.rewards.eligibility.redeemable``) when the model is trained.
What can change between trainings without a word to this package is checked
again when the list is read, with the rewards domain's own rules: the reward is
still in the catalog, inside its dates and in stock; a member who is not active
gets no reward at all; and after a new program version a reward that is not
open to every member (a tier, a plan, a condition or a per-member limit) is left
out until the next training judges it. Tier moves and redemptions are followed
as they happen (``service.on_tier_changed``, ``service.on_reward_redeemed``).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from patron.program.incentives import Reward
from patron.rewards import domain as rewards

VERBS = {"category": "buy", "product": "buy", "reward": "redeem"}
MAX_REASON = 300
MODEL = "model"
POPULAR = "popular"


def label(kind: str, key: str, reward_names: dict[str, str]) -> str:
    """How an item is named in a reason: a reward by its name, others by their key."""
    return reward_names.get(key, key) if kind == "reward" else key


def because(kind: str, name: str, given_kind: str, given_name: str, times: int) -> str:
    """Why the model chose an item: what the member has that points to it."""
    if (kind, name) == (given_kind, given_name):
        text = (f"redeemed {_times(times)} before" if kind == "reward"
                else f"bought in {times} order{'s' if times != 1 else ''}")
    else:
        text = f"members who {VERBS[given_kind]} {given_name} also {VERBS[kind]} {name}"
    return text[:MAX_REASON]


def popular_because(kind: str, members: int) -> str:
    """Why popularity chose an item."""
    verb = "redeemed" if kind == "reward" else "bought"
    return f"popular: {verb} by {members:,} member{'s' if members != 1 else ''}"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def open_to_all(reward: Reward, holders: rewards.Holders | None) -> bool:
    """A reward any member may redeem: no tier, plan, condition or per-member limit."""
    return not (rewards.needs_tier(reward, holders) or rewards.needs_plan(reward, holders)
                or reward.eligibility.when or reward.limit_per_member is not None)


class StockRow(NamedTuple):
    """A ``reward_stock`` row as ``rewards.domain.stock_left`` reads it."""

    stock: int
    redeemed: int
    remaining: int


def still_offered(reward: Reward | None, holders: rewards.Holders | None,
                  stock: StockRow | None, now: datetime, zone: ZoneInfo,
                  judged_on_this_version: bool) -> bool:
    """Whether a reward stored for a member may be shown now (see the module's note)."""
    if reward is None or rewards.window_refusal(reward, now, zone) is not None:
        return False
    left = rewards.stock_left(reward.stock, stock)
    if left is not None and left <= 0:
        return False
    return judged_on_this_version or open_to_all(reward, holders)
