"""Purchases: the event type that records an order and earns on it.

An order is recorded once per program (a second event naming it is refused as
``duplicate_order``, also within one batch), in the program's currency, with its
lines, which is what a later return is checked against and claws back from.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from patron.errors import Conflict, InvalidInput, PatronError
from patron.events import repository
from patron.flows.handlers import Handler, Pending
from patron.program.service import Program


class DuplicateOrder(Conflict):
    code = "duplicate_order"
    title = "Order already recorded"


class CurrencyMismatch(InvalidInput):
    code = "currency_mismatch"
    title = "Currency differs from the program's"


def refuse_other_currency(currency: str, program: Program) -> None:
    if currency != program.settings.currency:
        raise CurrencyMismatch(f"order is in {currency} but the program "
                               f"counts in {program.settings.currency}", field="data.currency")


class Purchases(Handler):
    """Earns like any event, and records its order with the batch."""

    def check(self, item: Pending, program: Program) -> None:
        refuse_other_currency(item.order.currency, program)

    def refuse(self, conn: Connection, program: Program, items: Sequence[Pending],
               rejected: dict[int, PatronError]) -> None:
        known = repository.known_orders(conn, program.id, [i.order.order_id for i in items])
        for item in items:
            if item.order.order_id in known:
                rejected[item.index] = DuplicateOrder(
                    f"order {item.order.order_id} was already recorded by another event",
                    order_id=item.order.order_id)
            known.add(item.order.order_id)

    def record(self, conn: Connection, program: Program, items: Sequence[Pending]) -> None:
        repository.insert_orders(
            conn,
            [dict(program_id=program.id, order_id=i.order.order_id, member_id=i.member_id,
                  event_id=i.event_pk, channel=i.event.channel, currency=i.order.currency,
                  total=i.order.total, store_id=i.order.store_id, discount=i.order.discount,
                  coupon_value=i.order.coupon_value, occurred_at=i.event.occurred_at)
             for i in items],
            [[dict(line_no=n, sku=line.sku, department=line.department,
                   category=line.category, subcategory=line.subcategory, brand=line.brand,
                   quantity=line.quantity, amount=line.amount, discount=line.discount)
              for n, line in enumerate(i.order.lines)] for i in items])


PURCHASES = Purchases()
