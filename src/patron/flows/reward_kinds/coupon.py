"""A coupon reward issues the member a code of its coupon type.

Cancelling voids the code; a code already redeemed at checkout refuses the
cancellation (409 ``coupon_used``, from the coupons domain), since the member
would keep the discount and get the points back as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.coupons import service as coupons
from patron.flows.reward_kinds.base import RewardKind
from patron.program.incentives import Reward
from patron.program.service import Program


class Coupon(RewardKind):
    type = "coupon"
    redeemed = "coupon_issued"

    def produce(self, conn: Connection, program: Program, reward: Reward, member_id: int, *,
                key: str, actor: str, now: datetime) -> dict[str, Any]:
        issued = coupons.issue(conn, program, reward.coupon_type, member_id=member_id,
                               now=now, source=f"reward:{reward.id}")
        return {"coupon_code": issued.code, "coupon_expires_at": issued.expires_at}

    def undo(self, conn: Connection, program: Program, row: Any, *, reason: str, actor: str,
             now: datetime) -> None:
        coupons.void(conn, program, row.coupon_code, now, reason)
