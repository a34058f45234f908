"""The reward kinds a program may offer, each with its fulfilment strategy.

A redemption spends points the same way whatever the reward; what it produces
beyond that (a coupon code, wallet cashback, a gift to send, a place booked, a
donation), how it is undone on cancellation and when that is refused, and the
steps its fulfilment goes through are the kind's. The strategies live in flows
because producing a coupon or a cashback credit reaches into other domains
(coupons, wallet), which the rewards domain does not import.

Adding a reward kind is one module here (a ``RewardKind`` subclass) and one entry
in ``KINDS``, next to the new ``type`` in ``patron.program.incentives.Reward``.
"""

from __future__ import annotations

from patron.flows.reward_kinds.base import AlreadyFulfilled, RewardKind
from patron.flows.reward_kinds.cashback import Cashback, CashbackSpent
from patron.flows.reward_kinds.coupon import Coupon
from patron.flows.reward_kinds.donation import Donation
from patron.flows.reward_kinds.experience import Experience, ExperienceAttended
from patron.flows.reward_kinds.gift import Gift, GiftSent

KINDS: dict[str, RewardKind] = {kind.type: kind for kind in (
    Coupon(), Gift(), Cashback(), Experience(), Donation())}


def kind_of(reward_type: str) -> RewardKind:
    """The strategy for rewards (and redemptions) of ``reward_type``."""
    return KINDS[reward_type]


__all__ = ["KINDS", "AlreadyFulfilled", "CashbackSpent", "ExperienceAttended", "GiftSent",
           "RewardKind", "kind_of"]
