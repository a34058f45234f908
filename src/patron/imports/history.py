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

from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection

from patron import hooks
from patron.db.engine import JSONText, insert_lists, insert_lists_returning_ids
from patron.errors import PatronError
from patron.events import repository
from patron.events.schemas import EventIn, EventOutcome
from patron.events.tables import events, order_lines, orders
from patron.flows import enrolment
from patron.flows.event_types import event_type
from patron.flows.handlers import Pending
from patron.flows.ingest import CLOCK_SKEW, OccurredInFuture, refusal
from patron.flows.ingest import _check as check
from patron.flows.purchases import refuse_other_currency
from patron.imports.orders import plain_order
from patron.members import repository as member_repository
from patron.members import service as member_service
from patron.program.service import Program
from patron.program.versions import versions

PURCHASE = event_type("purchase")
EVENT_COLUMNS = ["program_id", "external_id", "type", "member_id", "channel", "occurred_at",
                 "received_at", "data", "outcome", "identity_id"]
ORDER_COLUMNS = ["program_id", "order_id", "member_id", "event_id", "channel", "currency",
                 "total", "store_id", "discount", "coupon_value", "occurred_at"]
LINE_COLUMNS = ["order_pk", "line_no", "sku", "department", "category", "subcategory",
                "brand", "quantity", "amount", "discount"]


def admits(program: Program, batch: list[EventIn], now: datetime, earn_history: bool,
           plain: Collection[int] = ()) -> Admitted | None:
    """The batch as pending purchases with their identities and orders (their data, or
    ``PurchaseData.model_dump`` of it: absent fields are the schema's defaults), and the events ingest's checks refuse (a
    line of quantity 0, another currency), if it is history that earns nothing and
    nothing else in it can be refused; else ``None``. ``plain``: the events (by their
    place) whose data the caller found an order ``plain_order`` takes. Pure."""
    if earn_history or not program.settings.auto_enrol or not PURCHASE.enrols:
        return None
    started = program.created_at
    ids: set[str] = set()
    order_ids: set[str] = set()
    items: list[Pending] = []
    found: list[dict[str, Any]] = []
    rejected: dict[int, PatronError] = {}
    for index, event in enumerate(batch):
        if (event.type != "purchase" or event.member.identity is None
                or event.occurred_at >= started or event.id in ids):
            return None
        ids.add(event.id)
        item = Pending(index, event, PURCHASE.handler)
        try:
            order = _checked(item, program, now, index in plain)
        except PatronError as exc:
            rejected[index] = refusal(exc)
            continue
        if order["order_id"] in order_ids:
            return None
        order_ids.add(order["order_id"])
        items.append(item)
        found.append(order)
    return Admitted(items, found, rejected)


def _checked(item: Pending, program: Program, now: datetime, plain: bool = False
             ) -> dict[str, Any]:
    """Ingest's checks of a purchase (``flows.ingest._check``), in the same order; an
    order plainly valid (``plain``: known to be) is taken without building its schema
    (``imports.orders``)."""
    event = item.event
    if not (plain or plain_order(event.data)):
        check(item, program, now)
        return item.order.model_dump()  # type: ignore[union-attr]
    order = event.data
    if event.occurred_at > now + CLOCK_SKEW:
        raise OccurredInFuture(f"event {event.id} is dated {event.occurred_at.isoformat()}, "
                               "after the current time", field="occurred_at")
    refuse_other_currency(order["currency"], program)
    [item.identity] = member_service.normalised(program, [event.member.identity])
    return order


class Admitted(NamedTuple):
    """What :func:`admits` makes of a batch it takes."""

    items: list[Pending]
    """The purchases to record, with their identities."""
    orders: list[dict[str, Any]]
    """Each item's order (its data, or what the order schema made of it)."""
    rejected: dict[int, PatronError]
    """The events ingest's checks refuse, by their place in the batch."""
    data_json: list[JSONText] | None = None
    """Each item's data as JSON, where it was written beforehand (an import's parsing
    process does, while this process writes the batch before)."""


def record_history(conn: Connection, program: Program, batch: list[EventIn], *,
                   now: datetime, actor: str, earn_history: bool = False,
                   admitted: Admitted | None = None) -> list[EventOutcome] | None:
    """Record the batch as ``ingest`` would, if :func:`admits` takes it and the database
    knows none of its ids and orders; ``None`` (nothing written) otherwise. ``admitted``:
    what :func:`admits` made of the batch at ``now``, when the caller worked it out
    beforehand (an import does, while the batch before is written)."""
    if admitted is None:
        admitted = admits(program, batch, now, earn_history)
    if admitted is None or not batch:
        return None
    items, found, rejected, data_json = admitted
    if repository.recorded_events(conn, program.id, [event.id for event in batch]):
        return None
    if items and repository.known_orders(conn, program.id, [o["order_id"] for o in found]):
        return None
    through = _members(conn, program, items, now)
    version_at = versions.resolver(conn, program)
    outcomes = [EventOutcome(id=i.event.id, status="processed", type=i.event.type,
                             member_id=i.member_id, enrolled=i.enrolled, points=0,
                             program_version=version_at(i.event.occurred_at)[0],
                             awards=[], gifts=[], notes=[], tier=None) for i in items]
    _write(conn, program, items, found, outcomes, now, through, data_json)
    results = {item.index: answered for item, answered in zip(items, outcomes)}
    results.update((index, EventOutcome(id=batch[index].id, status="rejected",
                                        type=batch[index].type, error=error.problem()))
                   for index, error in rejected.items())
    return [results[index] for index in range(len(batch))]


def _stored(outcome: EventOutcome, template: dict[str, Any]) -> dict[str, Any]:
    """``outcome.model_dump(mode="json", exclude={"status"})`` of a processed history
    event, from one dumped alike (only these fields differ between them)."""
    return {**template, "id": outcome.id, "member_id": outcome.member_id,
            "enrolled": outcome.enrolled, "program_version": outcome.program_version}


def _write(conn: Connection, program: Program, items: list[Pending],
           found: list[dict[str, Any]], outcomes: list[EventOutcome], now: datetime,
           through: dict[tuple[str, str], int], data_json: list[JSONText] | None = None
           ) -> None:
    """The events, orders and lines ``ingest`` would write (``handlers.event_row``,
    ``purchases.record``), as lists of values sent by COPY or executemany, and the
    ``EventsRecorded`` announcement; ``through``: the identities' row ids (each event's
    ``identity_id``), ``data_json``: the events' data written already."""
    if not items:
        return
    template = outcomes[0].model_dump(mode="json", exclude={"status"})
    event_ids = insert_lists_returning_ids(conn, events, EVENT_COLUMNS, [
        [program.id, i.event.id, i.event.type, i.member_id, i.event.channel,
         i.event.occurred_at, now, data, _stored(o, template),
         through.get(i.identity[:2]) if i.identity else None]
        for i, o, data in zip(items, outcomes, data_json or [i.event.data for i in items],
                              strict=True)])
    order_ids = insert_lists_returning_ids(conn, orders, ORDER_COLUMNS, [
        [program.id, o["order_id"], i.member_id, event_pk, i.event.channel, o["currency"],
         o["total"], o.get("store_id"), o.get("discount"), o.get("coupon_value"),
         i.event.occurred_at]
        for i, o, event_pk in zip(items, found, event_ids, strict=True)])
    insert_lists(conn, order_lines, LINE_COLUMNS, [
        [order_pk, n, line["sku"], line.get("department"), line.get("category"),
         line.get("subcategory"), line.get("brand"), line.get("quantity", 1),
         line["amount"], line.get("discount")]
        for o, order_pk in zip(found, order_ids) for n, line in enumerate(o.get("lines", ()))])
    hooks.emit(conn, hooks.EventsRecorded(program, tuple(
        hooks.RecordedEvent(
            event_id=event_pk, external_id=i.event.id, type=i.event.type,
            member_id=i.member_id, occurred_at=i.event.occurred_at, channel=i.event.channel,
            data=i.event.data, order_id=o["order_id"], order_total=o["total"])
        for i, o, event_pk in zip(items, found, event_ids))))


def _members(conn: Connection, program: Program, items: list[Pending], now: datetime
             ) -> dict[tuple[str, str], int]:
    """Each purchase's member, enrolling unknown identities as ``ingest`` does: in the order
    of their first purchase, each joined at its earliest purchase of the batch. Returns
    the identities' row ids, read with their members (the new ones' once written)."""
    owners = member_repository.identity_owners(
        conn, program.id, [(i.identity[0], i.identity[1]) for i in items])
    known = {key: member for key, (member, _) in owners.items()}
    through = {key: identity for key, (_, identity) in owners.items()}
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
        through.update(member_repository.identity_ids(conn, program.id, list(firsts)))
    for item in items:
        key = (item.identity[0], item.identity[1])
        item.member_id = known[key]
        item.enrolled = firsts.get(key) is item
    return through
