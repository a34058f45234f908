"""A gift reward waits to be sent: staff record it sent, then delivered.

Its steps are those of a gift with purchase (``rewards.domain.GIFT_FULFILMENT``),
so both kinds of gift read alike. A gift still waiting may be cancelled; once
sent it is the member's (409 ``gift_sent``).
"""

from __future__ import annotations

from patron.flows.reward_kinds.base import AlreadyFulfilled, RewardKind
from patron.rewards.domain import GIFT_FULFILMENT


class GiftSent(AlreadyFulfilled):
    code, title = "gift_sent", "Gift already sent"


class Gift(RewardKind):
    type = "gift"
    redeemed = GIFT_FULFILMENT[0]
    steps = GIFT_FULFILMENT
    already_fulfilled = GiftSent
