"""What makes a re-sent event the same event: pure functions, no database.

An event's id is its idempotency key. A retry of the same event answers its first
outcome; the same id with another event behind it (another member, time, channel,
type or data) is a client reusing a key, and is refused rather than answered with
the outcome of an event the client did not send. The member is compared as the
member the reference names, so a retry that types the member's email differently
(case, spaces) or names them by id is still the same event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patron.events.schemas import EventIn


@dataclass(frozen=True)
class Recorded:
    """The fields that define an event, as first recorded under its id."""

    type: str
    member_id: int
    occurred_at: datetime
    channel: str | None
    data: dict[str, Any]


def differences(sent: EventIn, member_id: int | None, recorded: Recorded) -> list[str]:
    """The fields in which ``sent`` is not the event recorded under its id (none: a retry).

    ``member_id`` is the member ``sent`` names (None when its identity belongs to nobody).
    """
    found = []
    if sent.type != recorded.type:
        found.append("type")
    if member_id != recorded.member_id:
        found.append("member")
    if sent.occurred_at != recorded.occurred_at:
        found.append("occurred_at")
    if sent.channel != recorded.channel:
        found.append("channel")
    if sent.data != recorded.data:
        found.append("data")
    return found


def repeat_differences(first: EventIn, again: EventIn) -> list[str]:
    """The fields in which ``again`` differs from ``first``, sent under the same id in one
    batch (the member as referenced: the first has not been resolved yet)."""
    return [name for name in ("type", "member", "occurred_at", "channel", "data")
            if getattr(first, name) != getattr(again, name)]
