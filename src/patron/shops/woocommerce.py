"""WooCommerce: ``order.created`` and ``order.updated`` as WooCommerce sends them.

WooCommerce sends the whole order (its REST API shape) on every save, so each delivery
says where the order stands, and the order decides what Patron records:

- ``processing`` or ``completed`` (WooCommerce's paid statuses): the purchase, earned
  once (``woocommerce:{shop}:order:{id}``; every later save is a duplicate);
- ``refunded`` (refunded in full): the purchase if Patron has not seen it, then a
  return of everything not returned yet (``…:order:{id}:refunded``);
- any other status (pending, on-hold, failed, cancelled, a draft): ``order_not_paid``.

A partial refund appears in the order only as an amount (``refunds``: id, reason,
total), without the lines it gave money back for, so it cannot be returned line by
line: it is acknowledged as ``refund_lines_unknown`` and nothing is taken back until the
order is refunded in full. Coupons in WooCommerce are shared out over the lines, so a
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
                                 ShopCustomer, ShopId, ShopLine, ShopMoney, as_utc, clip,
                                 minor_units)

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


class Order(_Model):
    id: ShopId
    status: str
    currency: str
    date_created_gmt: datetime
    date_modified_gmt: datetime | None = None
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


def order_changed(shop: ConnectedShop, payload: dict[str, Any]) -> list[Action]:
    """``order.created`` and ``order.updated`` alike: what the order's status says."""
    order = Order.model_validate(payload)
    if order.status in PAID:
        bought = paid_order(shop, order)
        if order.refunds:
            ids = ", ".join(r.id for r in order.refunds)
            return [bought, Ignored("refund_lines_unknown", f"refund(s) {ids} of order "
                                    f"{order.id} came without their lines: points are taken "
                                    "back when the order is refunded in full")]
        return [bought]
    if order.status == REFUNDED:
        if order.date_modified_gmt is None:
            raise InvalidShopPayload("a refunded order without date_modified_gmt",
                                     field="date_modified_gmt")
        return [paid_order(shop, order), OrderRefunded(
            shop.event_id("order", order.id, REFUNDED), shop.order_id(order.id),
            as_utc(order.date_modified_gmt), None, "refunded in full")]
    return [Ignored("order_not_paid", f"order {order.id} is {clip(order.status, 40)}; it "
                    "earns when processing or completed")]


def is_ping(delivery: Delivery) -> bool:
    """WooCommerce's test of a new webhook's URL: unsigned, ``webhook_id=N``."""
    return delivery.signature is None and _PING.fullmatch(delivery.body.strip()) is not None


WOOCOMMERCE = Platform(
    name="woocommerce", title="WooCommerce",
    headers=Headers(signature="X-WC-Webhook-Signature", topic="X-WC-Webhook-Topic",
                    source="X-WC-Webhook-Source", delivery="X-WC-Webhook-Delivery-ID"),
    topics={"order.created": order_changed, "order.updated": order_changed},
    secret_from_shop=False, is_ping=is_ping)
