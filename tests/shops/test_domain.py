"""Shop payloads read into purchases and returns: pure, no database."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from patron.errors import InvalidInput
from patron.events.schemas import PurchaseData
from patron.shops.domain import (ConnectedShop, Delivery, Ignored, InvalidShopPayload,
                                 MalformedShopPayload, OrderPaid, OrderRefunded,
                                 ShopDomainMismatch, ShopSignatureInvalid, ShopSignatureMissing,
                                 ShopTopicMissing, normalise_shop, purchase_data)
from patron.shops.platforms import PLATFORMS, UnknownPlatform, platform
from patron.shops.shopify import SHOPIFY
from patron.shops.woocommerce import WOOCOMMERCE
from tests.shops.helpers import SECRET, SHOPIFY_SHOP, body_of, payload, sign

SHOP = ConnectedShop(1, "shopify", SHOPIFY_SHOP, "web", SHOPIFY_SHOP)
WOO = ConnectedShop(2, "woocommerce", "shop.example.com", "web", "shop.example.com")


def delivery(topic, value, *, signature=None, source=None):
    body = body_of(value)
    return Delivery(topic, "d-1", source, signature, body)


def read(shop, topic, value):
    chosen = SHOPIFY if shop is SHOP else WOOCOMMERCE
    return chosen.read(shop, delivery(topic, value))


def test_a_shopify_order_becomes_a_purchase_with_its_lines_discounts_and_codes():
    [order] = read(SHOP, "orders/create", payload("shopify/orders_create_paid.json"))
    assert isinstance(order, OrderPaid)
    assert order.event_id == f"shopify:{SHOPIFY_SHOP}:order:5873281290412"
    assert order.order_id == f"shopify:{SHOPIFY_SHOP}:5873281290412"
    assert order.occurred_at == datetime(2026, 2, 12, 15, 15, 20, tzinfo=timezone.utc)
    data = purchase_data(order)
    # The gift card earns nothing; the $5 beans bundle is the beans' own discount; the
    # 10% WELCOME10 code is on the whole order (allocated 5.90 + 2.80 over the lines).
    assert data["lines"] == [
        {"sku": "BNS-HOUSE-1KG", "brand": "Patron Roasters", "quantity": 2, "amount": 5900,
         "discount": 500},
        {"sku": "POUR-CER-02", "brand": "Hario", "quantity": 1, "amount": 2800}]
    assert (data["total"], data["discount"]) == (5900 + 2800 - 870, 870)
    assert (data["coupon_value"], data["coupon_codes"]) == (870, ["WELCOME10"])
    assert data["store_id"] == SHOPIFY_SHOP and data["currency"] == "USD"
    PurchaseData.model_validate(data)  # what ingest checks it against
    assert [line.line_id for line in order.lines] == ["14234119553196", "14234119585964"]
    assert order.customer.identities == (
        ("external_id", f"shopify:{SHOPIFY_SHOP}:customer:7290384512300"),
        ("email", "ann.lee@example.com"), ("phone", "+12025550143"))
    assert (order.customer.given_name, order.customer.family_name) == ("Ann", "Lee")


def test_shopify_earns_on_the_first_delivery_that_shows_the_order_paid():
    pending = payload("shopify/orders_create_pending.json")
    [waiting] = read(SHOP, "orders/create", pending)
    assert isinstance(waiting, Ignored) and waiting.code == "order_not_paid"
    [paid] = read(SHOP, "orders/paid", payload("shopify/orders_paid.json"))
    assert isinstance(paid, OrderPaid) and paid.event_id.endswith(":order:5873281323180")
    [created_paid] = read(SHOP, "orders/create", dict(pending, financial_status="paid"))
    assert created_paid.event_id == paid.event_id  # one event: the second is a duplicate


def test_a_guest_checkout_is_named_by_the_order_email():
    [order] = read(SHOP, "orders/create", payload("shopify/orders_create_guest.json"))
    assert order.customer.identities == (("email", "cleo.park@example.org"),)
    assert (order.customer.given_name, order.customer.family_name) == ("Cleo", "Park")


def test_a_refund_names_the_shop_lines_and_quantities():
    [refund] = read(SHOP, "refunds/create", payload("shopify/refunds_create_partial.json"))
    assert isinstance(refund, OrderRefunded)
    assert refund.lines == (("14234119553196", 1),) and refund.reason == "One bag arrived torn"
    assert refund.order_id == f"shopify:{SHOPIFY_SHOP}:5873281290412"
    shipping_only = dict(payload("shopify/refunds_create_partial.json"), refund_line_items=[])
    [ignored] = read(SHOP, "refunds/create", shipping_only)
    assert ignored.code == "refund_without_lines"


def test_pos_orders_and_product_types_and_test_orders():
    order = payload("shopify/orders_create_paid.json")
    order.update(source_name="pos", location_id=78419607724)
    order["line_items"][0]["product_type"] = "Coffee beans"
    [pos] = read(SHOP, "orders/paid", order)
    assert (pos.channel, pos.store_id) == ("pos", "78419607724")
    assert pos.lines[0].category == "Coffee beans"
    [test] = read(SHOP, "orders/paid", dict(order, test=True))
    assert test.code == "test_order"


def test_a_line_without_sku_is_named_by_its_variant():
    order = payload("shopify/orders_create_paid.json")
    order["line_items"][1]["sku"] = None
    [paid] = read(SHOP, "orders/paid", order)
    assert paid.lines[1].sku == "variant:44871234592940"


def test_woocommerce_orders_by_status():
    processing = payload("woocommerce/order_created_processing.json")
    [order] = read(WOO, "order.created", processing)
    data = purchase_data(order)
    # WooCommerce shares its coupons out over the lines: subtotal less total.
    assert data["lines"] == [
        {"sku": "SO-ETH-250", "quantity": 3, "amount": 4050, "discount": 450},
        {"sku": "product:105", "quantity": 1, "amount": 1980, "discount": 220}]
    assert (data["total"], data["coupon_value"], data["coupon_codes"]) == (6030, 670,
                                                                          ["spring10"])
    assert "discount" not in data
    assert order.occurred_at == datetime(2026, 2, 14, 18, 22, 9, tzinfo=timezone.utc)
    assert order.customer.identities == (
        ("external_id", "woocommerce:shop.example.com:customer:12"),
        ("email", "dana.reyes@example.com"), ("phone", "(415) 555-0132"))
    bought, partial = read(WOO, "order.updated",
                           payload("woocommerce/order_updated_partial_refund.json"))
    assert bought.event_id == order.event_id and partial.lines is None
    # $19.80 of the $69.68 WooCommerce took (tax and shipping in), on Patron's $60.30
    assert partial.amount == 6030 * 1980 // 6968 and partial.reason == "Mug chipped"
    assert partial.event_id.endswith(":order:4101:refund:4127")
    again, first, second = read(WOO, "order.updated",
                                payload("woocommerce/order_updated_refunded.json"))
    assert again.event_id == order.event_id and first == partial.__class__(
        partial.event_id, partial.order_id, first.occurred_at, None, "Mug chipped",
        partial.amount)
    # the refunds reach WooCommerce's total, so they reach Patron's exactly: no extra return
    assert second.event_id.endswith(":refund:4133") and first.amount + second.amount == 6030
    assert second.occurred_at == datetime(2026, 2, 21, 18, 12, 5, tzinfo=timezone.utc)
    by_hand = dict(payload("woocommerce/order_updated_refunded.json"), refunds=[])
    _, everything = read(WOO, "order.updated", by_hand)
    assert everything.lines is None and everything.amount is None
    assert everything.event_id.endswith(":order:4101:refunded")
    [held] = read(WOO, "order.created", payload("woocommerce/order_created_guest_on_hold.json"))
    assert held.code == "order_not_paid"


def test_a_guest_woocommerce_order_has_only_its_billing_email():
    guest = dict(payload("woocommerce/order_created_guest_on_hold.json"), status="processing")
    [order] = read(WOO, "order.created", guest)
    assert order.customer.identities == (("email", "sam.okafor@example.org"),)


def test_woocommerce_ping_is_recognised_only_unsigned_and_exact():
    assert WOOCOMMERCE.is_ping(Delivery(None, None, None, None, b"webhook_id=17"))
    assert not WOOCOMMERCE.is_ping(Delivery(None, None, None, "sig", b"webhook_id=17"))
    assert not WOOCOMMERCE.is_ping(Delivery(None, None, None, None, b"webhook_id=17&x=1"))
    assert not SHOPIFY.is_ping(Delivery(None, None, None, None, b"webhook_id=17"))


def test_topics_and_bodies_that_cannot_be_read():
    [ignored] = read(SHOP, "customers/create", b"not even json")
    assert ignored.code == "topic_not_handled"
    with pytest.raises(ShopTopicMissing):
        read(SHOP, None, {})
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe", b"[" * 100_000, b"1" * 5000):
        with pytest.raises(MalformedShopPayload):
            read(SHOP, "orders/paid", body)
    with pytest.raises(InvalidShopPayload) as missing:
        read(SHOP, "orders/paid", {"id": 1})
    assert missing.value.extra["field"] in {"currency", "line_items"}
    order = payload("shopify/orders_create_paid.json")
    order["line_items"][0]["quantity"] = "two"
    with pytest.raises(InvalidShopPayload) as typed:
        read(SHOP, "orders/paid", order)
    assert typed.value.extra["field"] == "line_items.0.quantity"
    order["line_items"][0].update(quantity=1, price={"amount": "1"})
    with pytest.raises(InvalidShopPayload):
        read(SHOP, "orders/paid", order)


def test_signatures_are_checked_against_the_raw_body_and_the_shop():
    body = body_of(payload("shopify/orders_paid.json"))
    good = sign(SECRET, body)
    SHOPIFY.verify(SHOP, SECRET, Delivery("orders/paid", None, SHOPIFY_SHOP, good, body))
    with pytest.raises(ShopSignatureMissing):
        SHOPIFY.verify(SHOP, SECRET, Delivery("orders/paid", None, SHOPIFY_SHOP, None, body))
    for forged in (sign("another-secret-entirely", body), ("B" if good[0] != "B" else "C") + good[1:], "é" * 44, ""):
        with pytest.raises(ShopSignatureInvalid):
            SHOPIFY.verify(SHOP, SECRET, Delivery("orders/paid", None, SHOPIFY_SHOP,
                                                  forged or "x", body))
    with pytest.raises(ShopSignatureInvalid):
        SHOPIFY.verify(SHOP, SECRET, Delivery("orders/paid", None, SHOPIFY_SHOP, good,
                                              body + b" "))
    with pytest.raises(ShopDomainMismatch):
        SHOPIFY.verify(SHOP, SECRET, Delivery("orders/paid", None, "other.myshopify.com",
                                              good, body))


def test_shops_are_named_by_host_and_path():
    assert normalise_shop("https://Shop.Example.com/") == "shop.example.com"
    assert normalise_shop("http://example.com/store/?x=1") == "example.com/store"
    assert normalise_shop(" My-Shop.myshopify.com ") == "my-shop.myshopify.com"
    for bad in ("", "https://", "bad shop.com", "x" * 101, "-shop.com"):
        with pytest.raises(InvalidInput):
            normalise_shop(bad)


def test_the_platform_registry():
    assert set(PLATFORMS) == {"shopify", "woocommerce"}
    assert platform("shopify") is SHOPIFY
    with pytest.raises(UnknownPlatform):
        platform("magento")


def test_an_order_in_woocommerces_documented_shape_is_read_as_a_guests_purchase():
    """Every field of WooCommerce's example order, with values of our own
    (tests/shops/fixtures/README.md)."""
    [order] = read(WOO, "order.updated", payload("woocommerce/order_documented_shape.json"))
    assert order.event_id == "woocommerce:shop.example.com:order:1184"
    assert order.occurred_at == datetime(2026, 2, 20, 15, 5, 41, tzinfo=timezone.utc)
    assert order.customer.identities == (("email", "maria.ortega@example.org"),
                                         ("phone", "(902) 555-0148"))
    data = purchase_data(order)
    # tax and the $6 shipping earn nothing: the lines' totals before tax
    assert (data["currency"], data["total"]) == ("USD", 2400)
    assert data["lines"] == [{"sku": "product:140", "quantity": 2, "amount": 900},
                             {"sku": "MUG-GRN-L", "quantity": 1, "amount": 1500}]
    PurchaseData.model_validate(data)
