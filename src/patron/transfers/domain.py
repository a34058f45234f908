"""Point transfers as plain rules: who may give points to whom, and how many.

A member gives some of their available points to another member of the same
program. The program document's ``transfers`` section turns transfers on and
sets their limits: a minimum and an optional maximum per transfer, and an
optional daily maximum of what one member may send, counted over the calendar
day in the program's timezone (a member in Sydney has a new allowance at their
midnight, not at UTC's).

Both members must be active. Members who share a household pool cannot give
each other points: the points would leave the pool and land in it again.
Whether the sender may spend (a child of a pooled household may not) is the
ledger's rule, checked beside these.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from patron.errors import Conflict, InvalidInput
from patron.program.document import Transfers

ACTIVE = "active"


class SelfTransfer(InvalidInput):
    code = "self_transfer"
    title = "A member cannot transfer points to themselves"


class TransfersDisabled(Conflict):
    code = "transfers_disabled"
    title = "Point transfers are not enabled in this program"


class SenderNotActive(Conflict):
    code = "sender_not_active"
    title = "The sending member is not active"


class ReceiverNotActive(Conflict):
    code = "receiver_not_active"
    title = "The receiving member is not active"


class SameHousehold(Conflict):
    code = "same_household"
    title = "Both members share one household pool"


class TransferBelowMinimum(Conflict):
    code = "transfer_below_minimum"
    title = "Transfer below the program's minimum"


class TransferAboveMaximum(Conflict):
    code = "transfer_above_maximum"
    title = "Transfer above the program's maximum"


class TransferDailyLimit(Conflict):
    code = "transfer_daily_limit"
    title = "Transfer over the member's daily maximum"


def local_day(now: datetime, zone: ZoneInfo) -> date:
    """The calendar day ``now`` falls on in the program's timezone."""
    return now.astimezone(zone).date()


def check_not_self(sender_id: int, receiver_id: int) -> None:
    if sender_id == receiver_id:
        raise SelfTransfer(f"member {sender_id} cannot transfer points to themselves",
                           field="to_member_id")


def check_enabled(rules: Transfers) -> None:
    if not rules.enabled:
        raise TransfersDisabled("this program does not allow members to transfer points")


def check_members(sender_id: int, sender_status: str, receiver_id: int, receiver_status: str,
                  *, same_pool: bool) -> None:
    """Both members active, and not sharing one household pool."""
    if sender_status != ACTIVE:
        raise SenderNotActive(f"member {sender_id} is {sender_status} and cannot send points",
                              member_id=sender_id, status=sender_status)
    if receiver_status != ACTIVE:
        raise ReceiverNotActive(f"member {receiver_id} is {receiver_status} and cannot "
                                "receive points", member_id=receiver_id,
                                status=receiver_status)
    if same_pool:
        raise SameHousehold(f"members {sender_id} and {receiver_id} share one household's "
                            "pooled points", member_id=sender_id, to_member_id=receiver_id)


def check_amount(rules: Transfers, points: int, *, sent_today: int, day: date) -> None:
    """The per-transfer limits, then the daily maximum given what was sent earlier that day."""
    if points < rules.minimum_points:
        raise TransferBelowMinimum(
            f"a transfer moves at least {rules.minimum_points} points",
            minimum_points=rules.minimum_points, requested=points)
    if rules.maximum_points is not None and points > rules.maximum_points:
        raise TransferAboveMaximum(
            f"a transfer moves at most {rules.maximum_points} points",
            maximum_points=rules.maximum_points, requested=points)
    daily = rules.daily_maximum_points
    if daily is not None and sent_today + points > daily:
        remaining = max(daily - sent_today, 0)
        raise TransferDailyLimit(
            f"a member may send {daily} points a day; {sent_today} already sent on {day}, "
            f"{remaining} left", daily_maximum_points=daily, sent_today=sent_today,
            remaining_points=remaining, requested=points, local_day=day.isoformat())
