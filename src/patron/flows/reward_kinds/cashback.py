"""A cashback reward credits money to the member's wallet.

Cancelling takes all of the cashback back or nothing, whatever the program's
``negative_balance``: cashback already spent refuses the cancellation (409
``cashback_spent``), since the member would keep what it bought and get the
points back as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict
from patron.flows.reward_kinds.base import RewardKind
from patron.program.incentives import Reward
from patron.program.service import Program
from patron.wallet import service as wallet


class CashbackSpent(Conflict):
    code = "cashback_spent"
    title = "Cashback already spent"


class Cashback(RewardKind):
    type = "cashback"
    redeemed = "cashback_credited"

    def produce(self, conn: Connection, program: Program, reward: Reward, member_id: int, *,
                key: str, actor: str, now: datetime) -> dict[str, Any]:
        move = wallet.WalletMove(member_id, reward.cashback, "cashback", f"reward:{key}",
                                 f"Cashback: {reward.name}", now, actor,
                                 details={"reward_id": reward.id})
        [entry_id] = wallet.credit_many(conn, program, [move], now)
        return {"cashback_amount": reward.cashback, "currency": program.settings.currency,
                "wallet_entry_id": entry_id}

    def undo(self, conn: Connection, program: Program, row: Any, *, reason: str, actor: str,
             now: datetime) -> None:
        amount = row.cashback_amount
        move = wallet.WalletMove(row.member_id, amount, "reverse",
                                 f"reward:{row.idempotency_key}:cancel",
                                 f"Cancelled: {row.reward_name} ({reason})", now, actor,
                                 details={"redemption_id": row.id})
        try:
            wallet.take_back(conn, program, move, now)
        except wallet.InsufficientFunds as exc:
            balance = exc.extra["available"]
            raise CashbackSpent(f"the wallet holds {balance} of the {amount} this redemption "
                                "credited: the cashback has been spent", balance=balance,
                                cashback=amount) from None
