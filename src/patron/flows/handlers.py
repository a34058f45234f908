"""What ingest asks of an event type's handler, and what every handler shares.

Ingest (``patron.flows.ingest``) takes a batch through the same steps for every
event: check it, refuse what the database already rules out, find its member,
evaluate it, record it. At each step it asks the handler of the event's type
(see ``patron.flows.event_types``) what that type adds. The base ``Handler``
adds nothing, which is all most types need (a sign-up, a review, a type the
program declares): the program's earn rules evaluate the event and it is
recorded with the rest of the batch.

A type that moves only what it names, rather than earning (a return, a
membership payment), is recorded alone once the batch is written: its handler
sets a ``stage`` above 0 and does the work in ``process``. The row, outcome and
announcement every handler records are here so they read the same whoever
writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel
from sqlalchemy import Connection

from patron import hooks
from patron.db.engine import JSONText
from patron.errors import PatronError
from patron.events.schemas import (Award, EventIn, EventOutcome, GiftOutcome, Note, Progress,
                                   PurchaseData, TierMove)
from patron.flows.awards import Earned
from patron.flows.earning import notes_of
from patron.program.context import Purchase
from patron.program.service import Program


class Made(NamedTuple):
    """What ingest needs of an event and can make of it alone, made beforehand (an import
    makes it in its parsing process): the events it is given go through ingest as they
    would without it."""

    purchase: Purchase | None
    """A purchase's order as the earn rules read it (``parse_purchase``, in the program's
    currency); None where the data does not parse (ingest refuses it in its words)."""
    data_json: JSONText
    """The event's data as the events table takes it."""


@dataclass
class Pending:
    """An event on its way through a batch."""

    index: int
    event: EventIn
    handler: Handler
    data: BaseModel | None = None
    """The event's data as its type's payload model, once checked (None: free data)."""
    made: Made | None = None
    """What was made of the event beforehand (``Made``); None when nothing was."""
    member_id: int | None = None
    enrolled: bool = False
    identity: tuple[str, str, str | None] | None = None
    identity_id: int | None = None
    """The row of ``identity`` when the batch found it known (None: not read yet)."""
    earned: Earned | None = None
    event_pk: int | None = None
    """The event's row (``events.id``), once recorded."""
    awards: list[Award] = field(default_factory=list)
    gifts: list[GiftOutcome] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    """A return's notes (a cancelled gift that was already sent)."""
    progress: list[Progress] = field(default_factory=list)
    """A return's badges, challenges and streaks taken back."""

    @property
    def order(self) -> PurchaseData | None:
        """The order a purchase records, for those who react to recorded events."""
        return self.data if isinstance(self.data, PurchaseData) else None


class Handler:
    """How ingest records one type of event; this base just earns."""

    stage = 0
    """0: the program's earn rules evaluate the event and it is recorded with the
    batch. Above 0: it earns nothing and is recorded alone after the batch is written,
    lower stages first (a return may return an order of the same batch)."""

    @property
    def earns(self) -> bool:
        return self.stage == 0

    def check(self, item: Pending, program: Program) -> None:
        """Refuse the event for what its data says, beyond its payload model."""

    def refuse(self, conn: Connection, program: Program, items: Sequence[Pending],
               rejected: dict[int, PatronError]) -> None:
        """Refuse the batch's events of this type that the database rules out."""

    def record(self, conn: Connection, program: Program, items: Sequence[Pending]) -> None:
        """Stage 0: write what the recorded events bring besides their rows."""

    def process(self, conn: Connection, program: Program, item: Pending, now: datetime,
                actor: str) -> EventOutcome:
        """Above stage 0: record the event and do what it asks; returns its outcome."""
        raise NotImplementedError(f"{type(self).__name__} records its events with the batch")


EARNS = Handler()
"""The handler of every type that just earns."""


def outcome(item: Pending, tier: TierMove | None = None) -> EventOutcome:
    """What a processed event answers: its awards, gifts and notes, and a tier it moved."""
    earned = item.earned
    return EventOutcome(id=item.event.id, status="processed", type=item.event.type,
                        member_id=item.member_id, enrolled=item.enrolled,
                        points=sum(a.points for a in item.awards),
                        program_version=earned.version if earned else None,
                        awards=item.awards, gifts=item.gifts,
                        notes=(notes_of(earned.evaluation) + earned.notes if earned else [])
                        + item.notes,
                        progress=(earned.progress if earned else []) + item.progress, tier=tier)


def event_row(program: Program, item: Pending, answered: EventOutcome, now: datetime) -> dict:
    """The ``events`` row that records the event and keeps its outcome for retries."""
    event = item.event
    return dict(program_id=program.id, external_id=event.id, type=event.type,
                member_id=item.member_id, channel=event.channel, occurred_at=event.occurred_at,
                received_at=now, data=item.made.data_json if item.made else event.data,
                outcome=answered.model_dump(mode="json", exclude={"status"}))


def announce(conn: Connection, program: Program, items: Sequence[Pending]) -> None:
    """Tell the subscribers which events were recorded (``hooks.EventsRecorded``)."""
    if items:
        hooks.emit(conn, hooks.EventsRecorded(program, tuple(
            hooks.RecordedEvent(
                event_id=i.event_pk, external_id=i.event.id, type=i.event.type,
                member_id=i.member_id, occurred_at=i.event.occurred_at,
                channel=i.event.channel, data=i.event.data,
                order_id=i.order.order_id if i.order else None,
                order_total=i.order.total if i.order else None)
            for i in items)))
