"""Gifts with purchase: catalog gifts that earn rules give, free, stock permitting.

An earn rule whose action is ``gift`` gives one unit of a ``type: gift`` reward
per event (the engine decides that, see ``patron.program.engine``). Ingest asks
``GiftStock`` for the unit, behind the same guarded update point redemptions
use, and records a grant; when none is left the event gets an ``out_of_stock``
note instead. A return that takes the order below what the rule needed cancels
the grant, and staff move a gift's fulfilment on as it is sent and delivered.
Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict, NotFound
from patron.events.schemas import GiftOutcome, Note
from patron.members.service import require_member
from patron.program.service import Program
from patron.rewards import domain, repository
from patron.rewards.schemas import Gift, GiftPage
from patron.program.engine import RuleTotal
from patron.program.incentives import Reward


class GiftNotFound(NotFound):
    code = "gift_not_found"
    title = "Gift not found"


class GiftCancelled(Conflict):
    code = domain.GIFT_CANCELLED_REFUSAL
    title = "Gift cancelled"


class FulfilmentBackwards(Conflict):
    code = domain.FULFILMENT_BACKWARDS
    title = "Fulfilment cannot move back"


# --------------------------------------------------------------------------- giving

class GiftStock:
    """The stock of the gifts one ingest may give, held for its transaction.

    Rows are created or brought in line with the catalog's ``stock`` and locked
    up front, in reward id order, as budgets are: a batch's events ask for units
    in any order, and locking as they go could make two ingests wait for each
    other. A reward without ``stock`` is unlimited and has no row.
    """

    def __init__(self, conn: Connection, program: Program, rewards: Mapping[str, Reward],
                 now: datetime) -> None:
        self.conn, self.program, self.now = conn, program, now
        self.rewards = dict(rewards)
        stocked = {r.id: r for r in rewards.values() if r.stock is not None}
        rows = repository.lock_stock(conn, program.id, stocked)
        missing = sorted(set(stocked) - set(rows))
        for reward_id in missing:
            repository.create_stock(conn, program.id, reward_id, stocked[reward_id].stock, now)
        if missing:
            rows = repository.lock_stock(conn, program.id, stocked)
        for reward_id, row in sorted(rows.items()):
            if row.stock != stocked[reward_id].stock:
                repository.restock(conn, program.id, reward_id, old=row.stock,
                                   new=stocked[reward_id].stock, redeemed=row.redeemed, now=now)

    def take(self, reward_id: str) -> bool:
        """One unit of the gift, or False when none is left."""
        reward = self.rewards.get(reward_id)
        if reward is None or reward.stock is None:
            return True
        return repository.take_unit(self.conn, self.program.id, reward_id, reward.stock,
                                    self.now)


def reward_names(rewards: Iterable[Reward]) -> dict[str, str]:
    return {reward.id: reward.name for reward in rewards}


def granted(version: int, gifts: Iterable[RuleTotal],
            names: Mapping[str, str]) -> list[GiftOutcome]:
    """What an event's outcome says of the gifts it gave."""
    return [GiftOutcome(rule_id=t.rule_id, reward_id=t.reward_id or "",
                        reward_name=names.get(t.reward_id or "", t.reward_id or ""),
                        status="granted", reason=t.explanation, program_version=version)
            for t in gifts]


def grant_rows(program: Program, member_id: int, event_pk: int, version: int,
               gifts: Iterable[RuleTotal], names: Mapping[str, str],
               now: datetime) -> list[dict[str, Any]]:
    """``gift_grants`` rows for the gifts one event gave (their units already taken)."""
    return [dict(program_id=program.id, member_id=member_id, event_id=event_pk,
                 program_version=version, rule_id=t.rule_id, rule_name=t.rule_name,
                 reward_id=t.reward_id, reward_name=names.get(t.reward_id or "", t.reward_id),
                 status=domain.GIFT_GRANTED, fulfilment=domain.GIFT_FULFILMENT[0],
                 explanation=t.explanation, created_at=now)
            for t in gifts]


def record(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    repository.insert_gift_grants(conn, rows)


# --------------------------------------------------------------------------- returns

def cancel_for_return(conn: Connection, program: Program, cancelled: Sequence[tuple[Any, str]],
                      now: datetime) -> tuple[list[GiftOutcome], list[Note]]:
    """Cancel grants a return no longer earns: ``(grant row, reason)`` pairs.

    See ``domain.cancel_gift``: a gift not sent yet goes back in stock; one already
    sent is cancelled and noted ``gift_already_sent`` on the return's outcome.
    """
    outcome, notes = [], []
    for row, reason in cancelled:
        undo = domain.cancel_gift(row.fulfilment)
        why = reason
        if undo.already_sent:
            why = f"{reason} ({row.reward_name} already {row.fulfilment}: not back in stock)"
            notes.append(Note(rule_id=row.rule_id, code="gift_already_sent",
                              message=f"{row.rule_name}: {row.reward_name} was already "
                              f"{row.fulfilment}; the gift is cancelled but not back in stock"))
        else:
            repository.return_unit(conn, program.id, row.reward_id, now)
        repository.mark_gift_cancelled(conn, row.id, now=now, reason=why,
                                       fulfilment=undo.fulfilment)
        outcome.append(GiftOutcome(rule_id=row.rule_id, reward_id=row.reward_id,
                                   reward_name=row.reward_name, status="cancelled", reason=why,
                                   program_version=row.program_version))
    return outcome, notes


# --------------------------------------------------------------------------- fulfilment

def move_fulfilment(conn: Connection, program: Program, gift_id: int, state: str) -> Gift:
    """Move a gift on (sent, delivered); the state it already has is returned as is.

    409 ``gift_cancelled`` for a cancelled gift, ``fulfilment_backwards`` for a step back.
    """
    row = _grant(conn, program, gift_id, lock=True)
    refusal = domain.fulfilment_refusal(row.status, row.fulfilment, state)
    if refusal == domain.GIFT_CANCELLED_REFUSAL:
        raise GiftCancelled(f"gift {gift_id} was cancelled: {row.cancel_reason}",
                            gift_id=gift_id)
    if refusal == domain.FULFILMENT_BACKWARDS:
        raise FulfilmentBackwards(f"gift {gift_id} is already {row.fulfilment}; it cannot "
                                  f"move back to {state}", gift_id=gift_id,
                                  fulfilment=row.fulfilment)
    if row.fulfilment != state:
        repository.set_gift_fulfilment(conn, gift_id, state)
        row = _grant(conn, program, gift_id)
    return view(row)


# --------------------------------------------------------------------------- reading

def _grant(conn: Connection, program: Program, gift_id: int, *, lock: bool = False) -> Any:
    row = repository.gift_grant(conn, program.id, gift_id, lock=lock)
    if row is None:
        raise GiftNotFound(f"gift {gift_id} does not exist", gift_id=gift_id)
    return row


def view(row: Any) -> Gift:
    fields = {name: getattr(row, name) for name in Gift.model_fields
              if name not in ("event_id",)}
    return Gift(**fields, event_id=row.event_external_id)


def get_gift(conn: Connection, program: Program, gift_id: int) -> Gift:
    return view(_grant(conn, program, gift_id))


def member_gifts(conn: Connection, program: Program, member_id: int, before: int | None,
                 limit: int) -> GiftPage:
    require_member(conn, program, member_id)
    rows = repository.member_gift_grants(conn, program.id, member_id, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return GiftPage(items=[view(r) for r in rows],
                    next_cursor=rows[-1].id if more and rows else None)
