"""Shopify: ``orders/create``, ``orders/paid`` and ``refunds/create`` as Shopify sends them.

Which topic earns: the first delivery that shows the order paid. ``orders/paid``
always does; ``orders/create`` does only when the order was paid at checkout
(``financial_status`` paid), since a shop may subscribe to either, or to both, and
Shopify does not promise their order. Both name the same event
(``shopify:{shop}:order:{id}``), so whichever comes second is a duplicate and earns
nothing. An order created unpaid (bank transfer, payment pending, only authorised) is
acknowledged as ``order_not_paid`` and earns when ``orders/paid`` comes. Test orders
(Shopify's "send test notification", bogus gateway) are ``test_order``.

A line's own discounts are the allocations of discount applications aimed at chosen
lines (``target_selection`` entitled or explicit); allocations of applications aimed
at the whole order (``all``) are the order's discount, as Patron's purchase keeps them.
``vendor`` is the line's brand; ``product_type``, where a payload carries it, its
category (order line items usually do not). A refund names lines by Shopify's line item
id; Patron finds their place in the order it recorded. A refund without lines (of
shipping or an amount) takes nothing back.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from patron.members.domain import IdentityType
from patron.shops.domain import (Action, ConnectedShop, Headers, Ignored, InvalidShopPayload,
                                 OrderPaid, OrderRefunded, Platform, ShopCustomer, ShopId, ShopLine,
                                 ShopMoney, clip, minor_units)

PAID = frozenset({"paid", "partially_refunded", "refunded"})
"""``financial_status`` values of an order whose payment was taken."""
ORDER_WIDE = "all"
"""The ``target_selection`` of a discount application on the whole order."""

Quantity = Annotated[int, Field(ge=0, le=1_000_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DiscountApplication(_Model):
    target_selection: str | None = None
    target_type: str | None = None


class DiscountAllocation(_Model):
    amount: ShopMoney = Decimal(0)
    discount_application_index: int | None = None


class LineItem(_Model):
    id: ShopId
    sku: str | None = None
    variant_id: ShopId | None = None
    product_id: ShopId | None = None
    quantity: Quantity
    price: ShopMoney
    vendor: str | None = None
    product_type: str | None = None
    gift_card: bool | None = False
    discount_allocations: list[DiscountAllocation] | None = None


class Customer(_Model):
    id: ShopId | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class Address(_Model):
    first_name: str | None = None
    last_name: str | None = None


class DiscountCode(_Model):
    code: Annotated[str, StringConstraints(max_length=255)] | None = None
    amount: ShopMoney = Decimal(0)


class Order(_Model):
    id: ShopId
    currency: str
    created_at: AwareDatetime | None = None
    processed_at: AwareDatetime | None = None
    financial_status: str | None = None
    test: bool | None = False
    source_name: str | None = None
    location_id: ShopId | None = None
    email: str | None = None
    contact_email: str | None = None
    phone: str | None = None
    customer: Customer | None = None
    billing_address: Address | None = None
    line_items: list[LineItem] = Field(max_length=500)
    discount_applications: list[DiscountApplication] | None = None
    discount_codes: list[DiscountCode] | None = Field(None, max_length=100)


class RefundLineItem(_Model):
    line_item_id: ShopId
    quantity: Quantity


class Refund(_Model):
    id: ShopId
    order_id: ShopId
    created_at: AwareDatetime | None = None
    processed_at: AwareDatetime | None = None
    note: str | None = None
    refund_line_items: list[RefundLineItem] | None = Field(None, max_length=500)


def _when(model: Order | Refund) -> datetime:
    moment = model.processed_at or model.created_at
    if moment is None:
        raise InvalidShopPayload("the payload has neither processed_at nor created_at",
                                 field="created_at")
    return moment


def customer_of(shop: ConnectedShop, order: Order) -> ShopCustomer:
    """The buyer's identities: Shopify's customer id (an ``external_id`` named by the shop,
    ``shopify:{shop}:customer:{id}``), the email and phone of the customer, else of the
    order (a guest checkout has no customer)."""
    buyer = order.customer or Customer()
    shop_id = [(IdentityType.EXTERNAL_ID.value, shop.event_id("customer", buyer.id))] \
        if buyer.id else []
    emails = [(IdentityType.EMAIL.value, e) for e in (buyer.email, order.email,
                                                       order.contact_email) if e]
    phones = [(IdentityType.PHONE.value, p) for p in (buyer.phone, order.phone) if p]
    billing = order.billing_address or Address()
    return ShopCustomer(tuple(shop_id + emails[:1] + phones[:1]),
                        clip(buyer.first_name or billing.first_name),
                        clip(buyer.last_name or billing.last_name))


def _line(item: LineItem, applications: list[DiscountApplication], currency: str) -> ShopLine:
    own = Decimal(0)
    for allocation in item.discount_allocations or ():
        index = allocation.discount_application_index
        aimed = applications[index] if index is not None and 0 <= index < len(applications) \
            else None
        if aimed is None or aimed.target_selection != ORDER_WIDE:
            own += allocation.amount
    sku = clip(item.sku) or (f"variant:{item.variant_id}" if item.variant_id
                             else f"product:{item.product_id}" if item.product_id
                             else f"line:{item.id}")
    return ShopLine(item.id, sku, item.quantity,
                    minor_units(item.price * item.quantity, currency),
                    minor_units(own, currency), clip(item.product_type), clip(item.vendor))


def _order_wide(order: Order, applications: list[DiscountApplication]) -> Decimal:
    return sum((allocation.amount for item in order.line_items if _earns(item)
                for allocation in item.discount_allocations or ()
                if allocation.discount_application_index is not None
                and 0 <= allocation.discount_application_index < len(applications)
                and applications[allocation.discount_application_index].target_selection
                == ORDER_WIDE), Decimal(0))


def _earns(item: LineItem) -> bool:
    return item.quantity > 0 and not item.gift_card


def paid_order(shop: ConnectedShop, order: Order) -> Action:
    """The order as a purchase; ``Ignored`` for a test order or one with nothing that
    earns (gift cards only)."""
    if order.test:
        return Ignored("test_order", f"order {order.id} is a Shopify test order")
    applications = order.discount_applications or []
    lines = tuple(_line(item, applications, order.currency)
                  for item in order.line_items if _earns(item))
    if not lines:
        return Ignored("no_earning_lines", f"order {order.id} has no lines that earn "
                                           "(gift cards and removed lines earn nothing)")
    codes = [code for code in order.discount_codes or () if code.code]
    pos = order.source_name == "pos"
    return OrderPaid(
        event_id=shop.event_id("order", order.id), order_id=shop.order_id(order.id),
        occurred_at=_when(order), channel="pos" if pos else shop.channel,
        customer=customer_of(shop, order), currency=order.currency, lines=lines,
        order_discount=minor_units(_order_wide(order, applications), order.currency),
        coupon_value=minor_units(sum((c.amount for c in codes), Decimal(0)), order.currency),
        coupon_codes=tuple(dict.fromkeys(c.code for c in codes)),
        store_id=order.location_id if pos and order.location_id else shop.store_id)


def order_created(shop: ConnectedShop, payload: dict[str, Any]) -> list[Action]:
    order = Order.model_validate(payload)
    if (order.financial_status or "") not in PAID:
        return [Ignored("order_not_paid", f"order {order.id} is "
                        f"{order.financial_status or 'not paid'}; it earns when paid "
                        "(orders/paid)")]
    return [paid_order(shop, order)]


def order_paid(shop: ConnectedShop, payload: dict[str, Any]) -> list[Action]:
    return [paid_order(shop, Order.model_validate(payload))]


def refund_created(shop: ConnectedShop, payload: dict[str, Any]) -> list[Action]:
    refund = Refund.model_validate(payload)
    quantities: dict[str, int] = {}
    for item in refund.refund_line_items or ():
        if item.quantity > 0:
            quantities[item.line_item_id] = quantities.get(item.line_item_id, 0) + item.quantity
    if not quantities:
        return [Ignored("refund_without_lines", f"refund {refund.id} returns no lines "
                        "(shipping or an amount only): nothing is taken back")]
    return [OrderRefunded(shop.event_id("refund", refund.id), shop.order_id(refund.order_id),
                          _when(refund), tuple(quantities.items()), clip(refund.note, 500))]


SHOPIFY = Platform(
    name="shopify", title="Shopify",
    headers=Headers(signature="X-Shopify-Hmac-Sha256", topic="X-Shopify-Topic",
                    source="X-Shopify-Shop-Domain", delivery="X-Shopify-Webhook-Id"),
    topics={"orders/create": order_created, "orders/paid": order_paid,
            "refunds/create": refund_created},
    secret_from_shop=True)
