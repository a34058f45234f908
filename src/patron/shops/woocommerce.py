"""WooCommerce: ``order.created`` and ``order.updated`` as WooCommerce sends them.

WooCommerce sends the whole order (its REST API shape) on every save, so each delivery
says where the order stands, and the order decides what Patron records:

- ``processing`` or ``completed`` (WooCommerce's paid statuses): the purchase, earned
  once (``woocommerce:{shop}:order:{id}``; every later save is a duplicate);
- ``refunded`` (refunded in full): the purchase if Patron has not seen it, its refunds,
  then, if they do not add up to the order's total (a status set by hand), a return of
  everything not returned yet (``…:order:{id}:refunded``);
- any other status (pending, on-hold, failed, cancelled, a draft): ``order_not_paid``.

A refund appears in the order only as an amount (``refunds``: id, reason, total, the
total negative), without the lines it gave money back for, so each refund is a return
of money alone (``…:order:{id}:refund:{refund id}``): the order's points are taken back
pro rata to the money refunded (``patron.program.returns.plan_refund``). WooCommerce's
amounts include tax and shipping, Patron's order total does not: a refund counts for
its share of WooCommerce's order total, carried over to Patron's (the refunds added up
in the order of their ids, so when they reach WooCommerce's total they reach Patron's
exactly). Coupons in WooCommerce are shared out over the lines, so a
line's discount is its ``subtotal`` less its ``total`` (both before tax), and the order
carries no discount of its own. Line items carry no category or brand.

On creation WooCommerce tests the URL with an unsigned ``webhook_id=N`` form post and
saves the webhook only when the answer is exactly 200: that ping is answered 200 and
does nothing.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from patron.members.domain import IdentityType
from patron.shops.domain import (Action, ConnectedShop, Delivery, Headers, Ignored,
                                 InvalidShopPayload, OrderPaid, OrderRefunded, Platform,
                                 RefundedMoney,
                                 ShopCustomer, ShopId, ShopLine, ShopMoney, as_utc, clip,
                                 minor_units, purchase_data)

PAID = frozenset({"processing", "completed"})
REFUNDED = "refunded"
_PING = re.compile(rb"webhook_id=[0-9]{1,20}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class LineItem(_Model):
    id: ShopId
    product_id: ShopId | None = None
    variation_id: ShopId | None = None
    sku: str | None = None
    quantity: Annotated[int, Field(ge=0, le=1_000_000)]
    subtotal: ShopMoney
    total: ShopMoney


class Billing(_Model):
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None


class CouponLine(_Model):
    code: Annotated[str, StringConstraints(max_length=255)] | None = None
    discount: ShopMoney = Decimal(0)


class RefundSummary(_Model):
    id: ShopId
    reason: str | None = None
    total: RefundedMoney
    """What the refund gave back (written negative), tax and shipping included."""


class Order(_Model):
    id: ShopId
    status: str
    currency: str
    date_created_gmt: datetime
    date_modified_gmt: datetime | None = None
    total: ShopMoney
    customer_id: Annotated[int, Field(ge=0)] | None = 0
    billing: Billing | None = None
    line_items: list[LineItem] = Field(max_length=500)
    coupon_lines: list[CouponLine] | None = Field(None, max_length=100)
    refunds: list[RefundSummary] | None = Field(None, max_length=500)


def _id(value: Any) -> bool:
    """A product or variation id WooCommerce gives (0: none)."""
    return bool(value) and value != "0"


def customer_of(shop: ConnectedShop, order: Order) -> ShopCustomer:
    """A registered customer's id (an ``external_id`` named by the shop,
    ``woocommerce:{shop}:customer:{id}``), and the billing email and phone; a guest
    (``customer_id`` 0) has only those."""
    billing = order.billing or Billing()
    found = [(IdentityType.EXTERNAL_ID.value,
              shop.event_id("customer", str(order.customer_id)))] if order.customer_id else []
    found += [(IdentityType.EMAIL.value, billing.email)] if billing.email else []
    found += [(IdentityType.PHONE.value, billing.phone)] if billing.phone else []
    return ShopCustomer(tuple(found), clip(billing.first_name), clip(billing.last_name))


def _line(item: LineItem, currency: str) -> ShopLine:
    product = item.variation_id if _id(item.variation_id) else item.product_id
    sku = clip(item.sku) or (f"product:{product}" if _id(product) else f"line:{item.id}")
    gross = minor_units(item.subtotal, currency)
    return ShopLine(item.id, sku, item.quantity, gross,
                    max(gross - minor_units(item.total, currency), 0))


def paid_order(shop: ConnectedShop, order: Order) -> Action:
    lines = tuple(_line(item, order.currency) for item in order.line_items if item.quantity)
    if not lines:
        return Ignored("no_earning_lines", f"order {order.id} has no lines")
    codes = [coupon for coupon in order.coupon_lines or () if coupon.code]
    return OrderPaid(
        event_id=shop.event_id("order", order.id), order_id=shop.order_id(order.id),
        occurred_at=as_utc(order.date_created_gmt), channel=shop.channel,
        customer=customer_of(shop, order), currency=order.currency, lines=lines,
        coupon_value=minor_units(sum((c.discount for c in codes), Decimal(0)), order.currency),
        coupon_codes=tuple(dict.fromkeys(c.code for c in codes)), store_id=shop.store_id)


def refunds_of(shop: ConnectedShop, order: Order, bought: OrderPaid,
               at: datetime) -> tuple[list[Action], bool]:
    """Each refund as a return of money, in Patron's terms; and whether they refund the
    whole order."""
    paid = minor_units(order.total, order.currency)
    recorded = purchase_data(bought)["total"]
    actions: list[Action] = []
    done = carried = 0
    for refund in sorted(order.refunds or (), key=lambda r: (len(r.id), r.id)):
        done = min(done + minor_units(refund.total, order.currency), paid)
        share = recorded * done // paid if paid else 0
        amount, carried = share - carried, share
        if amount > 0:
            actions.append(OrderRefunded(
                shop.event_id("order", order.id, "refund", refund.id), bought.order_id, at,
                None, clip(refund.reason, 500) or f"refund {refund.id}", amount))
    return actions, paid > 0 and done >= paid


def order_changed(shop: ConnectedShop, payload: dict[str, Any]) -> list[Action]:
    """``order.created`` and ``order.updated`` alike: what the order's status says."""
    order = Order.model_validate(payload)
    if order.status not in PAID and order.status != REFUNDED:
        return [Ignored("order_not_paid", f"order {order.id} is {clip(order.status, 40)}; "
                        "it earns when processing or completed")]
    bought = paid_order(shop, order)
    if not isinstance(bought, OrderPaid) or not order.refunds and order.status in PAID:
        return [bought]
    at = order.date_modified_gmt or order.date_created_gmt
    if order.status == REFUNDED and order.date_modified_gmt is None:
        raise InvalidShopPayload("a refunded order without date_modified_gmt",
                                 field="date_modified_gmt")
    refunds, in_full = refunds_of(shop, order, bought, as_utc(at))
    if order.status == REFUNDED and not in_full:
        refunds.append(OrderRefunded(shop.event_id("order", order.id, REFUNDED),
                                     bought.order_id, as_utc(at), None, "refunded in full"))
    return [bought, *refunds]


def is_ping(delivery: Delivery) -> bool:
    """WooCommerce's test of a new webhook's URL: unsigned, ``webhook_id=N``."""
    return delivery.signature is None and _PING.fullmatch(delivery.body.strip()) is not None


WOOCOMMERCE = Platform(
    name="woocommerce", title="WooCommerce",
    headers=Headers(signature="X-WC-Webhook-Signature", topic="X-WC-Webhook-Topic",
                    source="X-WC-Webhook-Source", delivery="X-WC-Webhook-Delivery-ID"),
    topics={"order.created": order_changed, "order.updated": order_changed},
    secret_from_shop=False, is_ping=is_ping)
