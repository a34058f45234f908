"""Membership payments: the event type that pays a member's live membership.

A renewal paid at a till or online reaches Patron as a ``membership_payment``
event; the memberships domain records it once per payment reference. The
program's earn rules do not evaluate it (it pays, it does not earn), and a
payment that is refused leaves no trace, so the rest of the batch still goes in.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from patron.events import repository
from patron.events.schemas import EventOutcome
from patron.flows.handlers import Handler, Pending, announce, event_row, outcome
from patron.memberships.service import record_payment
from patron.program.service import Program


class MembershipPayments(Handler):
    """Recorded alone, after the batch and its returns, each in its own savepoint."""

    stage = 2

    def process(self, conn: Connection, program: Program, item: Pending, now: datetime,
                actor: str) -> EventOutcome:
        payment = item.data
        with conn.begin_nested():  # a refused payment leaves no trace
            paid = record_payment(conn, program, item.member_id, payment.reference,
                                  payment.amount, min(item.event.occurred_at, now),
                                  currency=payment.currency, actor=actor)
            answered = outcome(item).model_copy(
                update={"membership": paid.model_dump(mode="json")})
            [item.event_pk] = repository.insert_events(
                conn, [event_row(program, item, answered, now)])
            announce(conn, program, [item])
        return answered


MEMBERSHIP_PAYMENTS = MembershipPayments()
