"""Recording a batch of purchase history that earns nothing, in bulk.

Most of an import is last year's orders, dated before the program began and
imported without ``--earn-history``: each is recorded (the event, its order and
lines, and a member enrolled for an unknown identity) and earns nothing, so the
earn engine has nothing to decide. :func:`record_history` writes such a batch
with the same rows, in the same order, as :func:`patron.flows.ingest.ingest`
would, and the same outcomes, but finds what the batch needs (recorded ids,
known orders, members by identity) with one query each and skips the earn
engine.

It takes a batch only when nothing in it could be answered differently: every
event a purchase by identity dated before the program, ids and order ids new and
each once. Events that ingest's own checks refuse (``_check``: an invalid order,
another currency, a bad identity) are refused here by the same checks, with the
same problems. Anything else (a duplicate to answer, an order to refuse, an
event that earns) returns ``None``, and the caller sends the batch through
``ingest``, which decides it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from patron.errors import PatronError
from patron.events import repository
from patron.events.schemas import EventIn, EventOutcome
from patron.flows import enrolment
from patron.flows.event_types import event_type
from patron.flows.handlers import Pending, announce, event_row
from patron.flows.ingest import _check as check
from patron.members import repository as member_repository
from patron.program.service import Program
from patron.program.versions import versions

PURCHASE = event_type("purchase")


def admits(program: Program, batch: list[EventIn], now: datetime, earn_history: bool
           ) -> tuple[list[Pending], dict[int, PatronError]] | None:
    """The batch as pending purchases with their orders and identities, and the events
    ingest's checks refuse (a line of quantity 0, another currency), if it is history that
    earns nothing and nothing else in it can be refused; else ``None``. Pure."""
    if earn_history or not program.settings.auto_enrol or not PURCHASE.enrols:
        return None
    started = program.created_at
    ids: set[str] = set()
    orders: set[str] = set()
    items: list[Pending] = []
    rejected: dict[int, PatronError] = {}
    for index, event in enumerate(batch):
        if (event.type != "purchase" or event.member.identity is None
                or event.occurred_at >= started or event.id in ids):
            return None
        ids.add(event.id)
        item = Pending(index, event, PURCHASE.handler)
        try:
            check(item, program, now)
        except PatronError as exc:
            rejected[index] = exc
            continue
        if item.order.order_id in orders:
            return None
        orders.add(item.order.order_id)
        items.append(item)
    return items, rejected


def record_history(conn: Connection, program: Program, batch: list[EventIn], *,
                   now: datetime, actor: str, earn_history: bool = False
                   ) -> list[EventOutcome] | None:
    """Record the batch as ``ingest`` would, if :func:`admits` takes it and the database
    knows none of its ids and orders; ``None`` (nothing written) otherwise."""
    admitted = admits(program, batch, now, earn_history)
    if admitted is None or not batch:
        return None
    items, rejected = admitted
    if repository.recorded_events(conn, program.id, [event.id for event in batch]):
        return None
    if items and repository.known_orders(conn, program.id, [i.order.order_id for i in items]):
        return None
    _members(conn, program, items, now)
    version_at = versions.resolver(conn, program)
    outcomes = [EventOutcome(id=i.event.id, status="processed", type=i.event.type,
                             member_id=i.member_id, enrolled=i.enrolled, points=0,
                             program_version=version_at(i.event.occurred_at)[0],
                             awards=[], gifts=[], notes=[], tier=None) for i in items]
    through = member_repository.identity_ids(
        conn, program.id, [i.identity[:2] for i in items if i.identity])
    event_ids = repository.insert_events(conn, [
        {**event_row(program, i, o, now),
         "identity_id": through.get(i.identity[:2]) if i.identity else None}
        for i, o in zip(items, outcomes)])
    for item, event_pk in zip(items, event_ids, strict=True):
        item.event_pk = event_pk
    PURCHASE.handler.record(conn, program, items)
    announce(conn, program, items)
    results = {item.index: answered for item, answered in zip(items, outcomes)}
    results.update((index, EventOutcome(id=batch[index].id, status="rejected",
                                        type=batch[index].type, error=error.problem()))
                   for index, error in rejected.items())
    return [results[index] for index in range(len(batch))]


def _members(conn: Connection, program: Program, items: list[Pending], now: datetime) -> None:
    """Each purchase's member, enrolling unknown identities as ``ingest`` does: in the order
    of their first purchase, each joined at its earliest purchase of the batch."""
    known = member_repository.members_by_identity(
        conn, program.id, [(i.identity[0], i.identity[1]) for i in items])
    firsts: dict[tuple[str, str], Pending] = {}
    joined: dict[tuple[str, str], datetime] = {}
    for item in items:
        key = (item.identity[0], item.identity[1])
        if key in known:
            continue
        if key not in firsts:
            firsts[key], joined[key] = item, now
        if item.event.occurred_at < joined[key]:
            joined[key] = item.event.occurred_at
    if firsts:
        ids = enrolment.enrol(
            conn, program, now,
            [dict(join_channel=p.event.channel) for p in firsts.values()],
            [[p.identity] for p in firsts.values()], joined=list(joined.values()))
        known.update(zip(firsts, ids))
    for item in items:
        key = (item.identity[0], item.identity[1])
        item.member_id = known[key]
        item.enrolled = firsts.get(key) is item
