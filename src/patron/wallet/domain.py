"""What a return takes back from a wallet, as plain arithmetic over minor units.

Cashback from a purchase is held through the order's return window, as its
points are, so a return first takes back what is still held of that credit:
money the member could never spend. Only the rest comes out of the spendable
balance, and what the balance no longer holds was spent at checkout: the
program's ``negative_balance`` setting forgives it or lets the balance owe it
(later cashback pays it off, since the balance is one sum).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CashbackClawback:
    from_held: int
    """Taken from the credit's pending hold (never spendable)."""
    from_balance: int
    """Taken from the spendable balance."""
    owed: int
    """Taken into a negative balance (``allow_negative``)."""
    forgiven: int
    """Already spent and let go (``clawback_available_only``)."""

    @property
    def taken(self) -> int:
        """What left the wallet, owed money included."""
        return self.from_held + self.from_balance + self.owed


def plan_clawback(amount: int, *, held: int, balance: int,
                  allow_negative: bool) -> CashbackClawback:
    """Take ``amount`` (> 0) back: held money first, then the balance, then owe or forgive."""
    if amount <= 0:
        raise ValueError("a clawback is positive")
    from_held = min(max(held, 0), amount)
    from_balance = min(max(balance, 0), amount - from_held)
    left = amount - from_held - from_balance
    owed = left if allow_negative else 0
    return CashbackClawback(from_held, from_balance, owed, left - owed)
