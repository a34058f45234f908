"""Referral payouts: qualified referrals past their return window become events.

A referral pays by sending two ``referral`` events through ingest, ``role:
referrer`` for the member who shared the code and ``role: referee`` for the new
member, so the program's earn rules decide the rewards (and explain them like
any other award). A referral whose qualifying order was fully returned is
voided instead and never pays. The event ids are fixed per referral, so a
sweep that runs twice pays once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.program.jobs import every_program_in_batches
from patron.program.service import Program
from patron.referrals import repository

PAY_BATCH = 200
"""Referrals settled per transaction of the scheduled sweep."""


def _payout_events(referral: Any) -> list[EventIn]:
    data = {"referral_code": referral.code, "referee_id": str(referral.referee_id),
            "referrer_id": str(referral.referrer_id)}
    return [EventIn(id=f"referral-{referral.id}-{role}", type="referral", member={"id": member},
                    occurred_at=referral.pay_after, channel="referral", data=dict(data, role=role))
            for role, member in (("referrer", referral.referrer_id),
                                 ("referee", referral.referee_id))]


def pay_due(conn: Connection, program: Program, now: datetime, limit: int = PAY_BATCH) -> int:
    """Pay (or void) qualified referrals past their window; returns how many it settled."""
    due = repository.due(conn, program.id, now, limit)
    events: list[EventIn] = []
    for referral in due:
        if repository.fully_returned(conn, program.id, referral.order_id):
            repository.update_referral(conn, referral.id, state="void", settled_at=now,
                                       reason=f"order {referral.order_id} was returned")
            continue
        events.extend(_payout_events(referral))
        repository.update_referral(conn, referral.id, state="paid", settled_at=now)
    if events:
        ingest(conn, program, events, now=now, actor="job:referrals")
    return len(due)


def pay_all(db: Any, now: datetime) -> int:
    """The scheduled sweep over every program's due referrals, in batches."""
    return sum(every_program_in_batches(
        db, lambda conn, program, limit: pay_due(conn, program, now, limit), int, PAY_BATCH))
