"""A donation reward gives the points' worth to its cause, recorded on the redemption
so ``GET /donations`` can total them per cause; it is done when redeemed, and a
cancellation simply leaves it out of the totals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.flows.reward_kinds.base import RewardKind
from patron.program.incentives import Reward
from patron.program.service import Program


class Donation(RewardKind):
    type = "donation"
    redeemed = "donated"

    def produce(self, conn: Connection, program: Program, reward: Reward, member_id: int, *,
                key: str, actor: str, now: datetime) -> dict[str, Any]:
        return {"cause": reward.cause}
