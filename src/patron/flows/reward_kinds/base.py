"""What every reward kind's strategy answers, and the defaults most kinds keep.

A kind that gives nothing beyond the redemption row (a donation, a gift to send)
keeps the no-op ``produce`` and ``undo``; a kind whose product can go out to the
member before it is cancelled names its ``steps`` and the refusal that says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Connection

from patron.errors import Conflict
from patron.program.incentives import Reward
from patron.program.service import Program
from patron.rewards import domain


class AlreadyFulfilled(Conflict):
    """A gift already sent or an experience attended; ``code`` says which."""

    code = "already_fulfilled"
    title = "Redemption already fulfilled"


class RewardKind:
    """One reward kind's fulfilment strategy (see ``patron.flows.reward_kinds``)."""

    type: ClassVar[str]
    """The ``type`` a program document gives such rewards."""
    redeemed: ClassVar[str]
    """The fulfilment a new redemption stands at."""
    steps: ClassVar[tuple[str, ...]] = ()
    """The way its fulfilment goes, in order, starting at ``redeemed``; staff move it
    on, never back. Empty for a kind that is done when redeemed."""
    already_fulfilled: ClassVar[type[AlreadyFulfilled] | None] = None
    """What refuses a cancellation once the product went out (past the first step)."""

    def produce(self, conn: Connection, program: Program, reward: Reward, member_id: int, *,
                key: str, actor: str, now: datetime) -> dict[str, Any]:
        """Redemption columns for what the reward gives, made in the caller's transaction."""
        return {}

    def undo(self, conn: Connection, program: Program, row: Any, *, reason: str, actor: str,
             now: datetime) -> None:
        """Take back what ``produce`` gave; raises a ``Conflict`` when it was used."""

    def cancel_refusal(self, row: Any) -> Conflict | None:
        """Why the redemption ``row`` can no longer be cancelled, before anything is undone."""
        if self.already_fulfilled is None or not domain.gone_out(self.steps, row.fulfilment):
            return None
        return self.already_fulfilled(
            f"redemption {row.id} is {row.fulfilment}: {row.reward_name} is the member's, "
            "so its points cannot be given back", redemption_id=row.id,
            fulfilment=row.fulfilment)
