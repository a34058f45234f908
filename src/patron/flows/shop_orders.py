"""Shop orders through ingest: what a shop's webhook asks for, recorded as native events.

A paid order becomes a ``purchase`` event and a refund a ``return`` event, sent
through ``patron.flows.ingest`` exactly as a channel would send them, so they earn,
are idempotent and claw back as any other. The event ids are the shop's own order and
refund ids (``patron.shops.domain.ConnectedShop.event_id``): a delivery Shopify
retries, or ``orders/paid`` after an ``orders/create`` that already earned, finds its
event recorded and answers its first outcome without earning again. That check comes
first, on the event id alone: the order may have changed between two deliveries, and
an order earns once.

The buyer is found by the first of the order's identities a member already has (the
shop's customer id, then email, then phone), else enrolled by the first one; the
order's other identities are then linked to the member unless someone else has them.
A refund names the order's member itself (refund payloads name no customer); one that
names no lines (WooCommerce's) is a return of its money alone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Connection

from patron.earning import repository as earning_repository
from patron.errors import InvalidInput, Refused
from patron.events import repository as events_repository
from patron.events.schemas import EventIn, EventOutcome
from patron.flows.ingest import ingest
from patron.members import repository as member_repository
from patron.members import service as member_service
from patron.members.schemas import IdentityIn, MemberUpdate
from patron.program.service import Program
from patron.shops import repository as shops_repository
from patron.shops.domain import (Action, ConnectedShop, Ignored, InvalidShopPayload, OrderPaid,
                                 OrderRefunded, ShopCustomer, purchase_data)


class IgnoredAction(BaseModel):
    code: str = Field(description="order_not_paid, test_order, topic_not_handled, "
                      "no_customer_identity, not_a_member, order_not_recorded, "
                      "refund_without_lines, "
                      "refund_lines_not_recorded, "
                      "order_already_returned, no_earning_lines")
    message: str


class DeliveryOutcome(BaseModel):
    """What Patron did with a shop webhook."""

    platform: str
    topic: str | None = None
    delivery_id: str | None = Field(None, description="The shop's id for this delivery")
    status: Literal["processed", "duplicate", "ignored", "ping"] = Field(
        description="processed: an event was recorded; duplicate: every event was recorded "
                    "before (the first outcome is answered); ignored: nothing to record; "
                    "ping: the shop testing the URL")
    events: list[EventOutcome] = Field(default_factory=list)
    ignored: list[IgnoredAction] = Field(default_factory=list)


class ShopEventRefused(Refused):
    """Ingest refused an event a webhook asked for: answered with ingest's own problem
    (``currency_mismatch``, ``return_exceeds_purchase``, …), and nothing is written."""


Done = EventOutcome | Ignored


def receive(conn: Connection, program: Program, shop: ConnectedShop, actions: list[Action], *,
            now: datetime, actor: str) -> tuple[list[EventOutcome], list[Ignored]]:
    """Carry out a delivery's actions in one transaction; any refusal refuses them all."""
    outcomes: list[EventOutcome] = []
    ignored: list[Ignored] = []
    for action in actions:
        done = RECORDERS[type(action)](conn, program, shop, action, now, actor)
        (ignored if isinstance(done, Ignored) else outcomes).append(done)
    return outcomes, ignored


def _first_outcome(conn: Connection, program: Program, event_id: str) -> EventOutcome | None:
    row = events_repository.recorded_events(conn, program.id, [event_id]).get(event_id)
    return None if row is None else EventOutcome(**row.outcome, status="duplicate")


def _ingest(conn: Connection, program: Program, event: dict[str, Any], now: datetime,
            actor: str) -> EventOutcome:
    try:
        sent = EventIn.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidShopPayload(f"the order cannot be recorded: {where}: {first['msg']}",
                                 field=where) from None
    [outcome] = ingest(conn, program, [sent], now=now, actor=actor)
    if outcome.status == "rejected":
        raise ShopEventRefused(outcome.error or {})
    return outcome


def _identities(program: Program, customer: ShopCustomer,
                channel: str) -> list[tuple[str, str]]:
    """The customer's identities that Patron can keep, normalised; an invalid one (a
    malformed phone in a billing address) is left out rather than refusing the order."""
    found: list[tuple[str, str]] = []
    for kind, value in customer.identities:
        try:
            [(kind, value, _)] = member_service.normalised(
                program, [IdentityIn(type=kind, value=value, channel=channel)])
        except (InvalidInput, ValidationError):
            continue
        if (kind, value) not in found:
            found.append((kind, value))
    return found


def _purchase(conn: Connection, program: Program, shop: ConnectedShop, order: OrderPaid,
              now: datetime, actor: str) -> Done:
    first = _first_outcome(conn, program, order.event_id)
    if first is not None:
        return first
    named = _identities(program, order.customer, shop.platform)
    if not named:
        return Ignored("no_customer_identity", f"order {order.order_id} names no customer, "
                       "email or phone to credit it to")
    owners = member_repository.members_by_identity(conn, program.id, named)
    kind, value = next((key for key in named if key in owners), named[0])
    try:
        outcome = _ingest(conn, program, {
            "id": order.event_id, "type": "purchase",
            "member": {"identity": {"type": kind, "value": value, "channel": shop.platform}},
            "occurred_at": order.occurred_at, "channel": order.channel,
            "data": purchase_data(order)}, now, actor)
    except ShopEventRefused as refused:
        if refused.code != "member_not_found":
            raise
        return Ignored("not_a_member", f"no member has the identities of order "
                       f"{order.order_id}, and the program does not enrol from purchases")
    if outcome.status == "processed":
        shops_repository.insert_shop_order(
            conn, program_id=program.id, connection_id=shop.id, order_id=order.order_id,
            line_ids=[line.line_id for line in order.lines], now=now)
        _link(conn, program, outcome.member_id, [key for key in named if key not in owners
                                                  and key != (kind, value)], shop, now)
        if outcome.enrolled:
            _name(conn, program, outcome.member_id, order.customer, now)
    return outcome


def _link(conn: Connection, program: Program, member_id: int, free: list[tuple[str, str]],
          shop: ConnectedShop, now: datetime) -> None:
    """Give the member the order's identities nobody had."""
    for kind, value in free:
        member_service.add_identity(conn, program, member_id,
                                    IdentityIn(type=kind, value=value, channel=shop.platform),
                                    now)


def _name(conn: Connection, program: Program, member_id: int, customer: ShopCustomer,
          now: datetime) -> None:
    """A member the order enrolled gets the buyer's name, when the shop gave a usable one."""
    names = {"given_name": customer.given_name, "family_name": customer.family_name}
    names = {key: value for key, value in names.items() if value}
    if not names:
        return
    try:
        change = MemberUpdate.model_validate({"profile": names})
    except ValidationError:
        return
    member_service.update_member(conn, program, member_id, change, now)


def _refund(conn: Connection, program: Program, shop: ConnectedShop, refund: OrderRefunded,
            now: datetime, actor: str) -> Done:
    first = _first_outcome(conn, program, refund.event_id)
    if first is not None:
        return first
    line_ids = shops_repository.line_ids_of(conn, program.id, refund.order_id)
    order = None if line_ids is None else earning_repository.order_for_return(
        conn, program.id, refund.order_id)
    if order is None:
        return Ignored("order_not_recorded", f"order {refund.order_id} was not recorded (not "
                       "paid, before the shop was connected, or without a customer): "
                       "nothing to take back")
    lines = []
    if refund.lines is not None:
        place = {line_id: index for index, line_id in enumerate(line_ids)}
        lines = [{"line_index": place[line_id], "quantity": quantity}
                 for line_id, quantity in refund.lines if line_id in place]
        if not lines:
            return Ignored("refund_lines_not_recorded", f"the refunded lines of order "
                           f"{refund.order_id} are not lines Patron recorded (gift cards, or "
                           "added after payment)")
    data = {"order_id": refund.order_id, "lines": lines,
            **({"amount": refund.amount} if refund.amount is not None else {}),
            **({"reason": refund.reason} if refund.reason else {})}
    try:
        return _ingest(conn, program, {
            "id": refund.event_id, "type": "return", "member": {"id": order.member_id},
            "occurred_at": refund.occurred_at, "channel": order.channel, "data": data},
            now, actor)
    except ShopEventRefused as refused:
        if refund.lines is None and refused.code in FINISHED:
            return Ignored("order_already_returned", f"order {refund.order_id} was returned "
                           "in full before, or by its lines")
        raise


FINISHED = frozenset({"line_already_returned", "order_returned_by_lines"})
"""Refusals of a refund without lines that mean the order was taken back before: by a
full refund, or (an order refunded in full before refunds came as amounts) by lines."""


def _ignore(conn: Connection, program: Program, shop: ConnectedShop, ignored: Ignored,
            now: datetime, actor: str) -> Done:
    return ignored


RECORDERS: dict[type, Callable[..., Done]] = {
    OrderPaid: _purchase, OrderRefunded: _refund, Ignored: _ignore}
"""How each kind of action is recorded."""
