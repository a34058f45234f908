"""What a redemption produces beyond the points it costs, and undoing it on cancellation.

A coupon reward issues the member a code of its coupon type; cashback goes
into the member's wallet; a donation records its cause; a gift waits to be
sent and an experience holds a place (its stock). Undoing is refused when the
product has been used: a redeemed coupon (409 ``coupon_used``) or cashback
already spent (409 ``cashback_spent``), because the member would otherwise keep
it and get the points back as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict
from patron.program.service import Program
from patron.rewards.domain import FULFILMENT
from patron.program.incentives import Reward


class CashbackSpent(Conflict):
    code = "cashback_spent"
    title = "Cashback already spent"


def _wallet() -> Any:
    """The wallet service, or None in an installation without one."""
    try:
        from patron.wallet import service
    except ImportError:
        return None
    return service


def produce(conn: Connection, program: Program, reward: Reward, member_id: int, *,
            key: str, actor: str, now: datetime) -> dict[str, Any]:
    """Redemption columns for what the reward gives (in the caller's transaction)."""
    fields: dict[str, Any] = {"fulfilment": FULFILMENT[reward.type]}
    if reward.type == "coupon":
        from patron.coupons import service as coupons

        issued = coupons.issue(conn, program, reward.coupon_type, member_id=member_id,
                               now=now, source=f"reward:{reward.id}")
        fields.update(coupon_code=issued.code, coupon_expires_at=issued.expires_at)
    elif reward.type == "cashback":
        fields.update(cashback_amount=reward.cashback, currency=program.settings.currency)
        fields.update(_credit(conn, program, reward, member_id, key=key, actor=actor, now=now))
    elif reward.type == "donation":
        fields["cause"] = reward.cause
    return fields


def _credit(conn: Connection, program: Program, reward: Reward, member_id: int, *,
            key: str, actor: str, now: datetime) -> dict[str, Any]:
    wallet = _wallet()
    if wallet is None:
        return {"fulfilment": "cashback_recorded"}
    move = wallet.WalletMove(member_id, reward.cashback, "cashback", f"reward:{key}",
                             f"Cashback: {reward.name}", now, actor,
                             details={"reward_id": reward.id})
    [entry_id] = wallet.credit_many(conn, program, [move], now)
    return {"wallet_entry_id": entry_id}


def undo(conn: Connection, program: Program, row: Any, *, reason: str, actor: str,
         now: datetime) -> None:
    """Void the coupon or take the cashback back; raises when it was used."""
    if row.coupon_code is not None:
        from patron.coupons import service as coupons

        coupons.void(conn, program, row.coupon_code, now, reason)
    if row.wallet_entry_id is not None:
        _take_back(conn, program, row, reason=reason, actor=actor, now=now)


def _take_back(conn: Connection, program: Program, row: Any, *, reason: str, actor: str,
               now: datetime) -> None:
    """All of the cashback or nothing, whatever the program's ``negative_balance``."""
    wallet = _wallet()
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
