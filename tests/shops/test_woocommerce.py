"""WooCommerce order webhooks through the API, on SQLite and PostgreSQL: the ping, an
order's life from paid to refunded, and its guest checkouts."""

from __future__ import annotations

from tests.shops.helpers import payload, raw

DANA = ("email", "dana.reyes@example.com")
PROCESSING = "woocommerce/order_created_processing.json"


def test_the_ping_on_creation_is_answered_200_unsigned_and_nothing_else_is(shops):
    shop = shops.connect("woocommerce", "https://shop.example.com/", secret=None)
    ping = shops.client.post(shop["webhook_path"], content=b"webhook_id=17", headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "WooCommerce/9.6.1 Hookshot (WordPress/6.7.2)"})
    assert ping.status_code == 200 and ping.json()["status"] == "ping"
    unsigned = shops.client.post(shop["webhook_path"], content=raw(PROCESSING),
                                 headers={"X-WC-Webhook-Topic": "order.created"})
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "shop_signature_missing"


def test_an_order_earns_once_and_its_full_refund_takes_it_all_back(shops):
    shop = shops.connect("woocommerce", "https://shop.example.com/", secret=None)
    secret = shop["secret"]
    created = shops.woo(shop, "order.created", raw(PROCESSING), secret=secret)
    assert created.status_code == 200, created.text
    [bought] = created.json()["events"]
    assert bought["status"] == "processed" and bought["points"] == 60  # 1 per $1 on 60.30
    dana = shops.member(*DANA)
    assert {(i["type"], i["value"]) for i in dana["identities"]} == {
        DANA, ("phone", "+14155550132"),
        ("external_id", "woocommerce:shop.example.com:customer:12")}
    saved = shops.woo(shop, "order.updated", raw(PROCESSING), secret=secret)
    assert saved.json()["status"] == "duplicate"
    partial = shops.woo(shop, "order.updated",
                        raw("woocommerce/order_updated_partial_refund.json"), secret=secret)
    assert partial.status_code == 200, partial.text
    statuses = [(e["type"], e["status"]) for e in partial.json()["events"]]
    assert statuses == [("purchase", "duplicate"), ("return", "processed")]
    # $19.80 of WooCommerce's $69.68 (tax and shipping in) is 28.4%: each line's award loses 28.4%, rounded down
    [_, back] = partial.json()["events"]
    assert back["id"] == "woocommerce:shop.example.com:order:4101:refund:4127"
    assert back["points"] == -16
    assert back["awards"][0]["reason"] == "1 point per $1: refunded $17.13 of $60.30: −16"
    assert shops.points(dana["id"]) == 44
    retried = shops.woo(shop, "order.updated",
                        raw("woocommerce/order_updated_partial_refund.json"), secret=secret)
    assert retried.json()["status"] == "duplicate" and shops.points(dana["id"]) == 44
    refunded = shops.woo(shop, "order.updated", raw("woocommerce/order_updated_refunded.json"),
                         secret=secret)
    statuses = [(e["type"], e["status"]) for e in refunded.json()["events"]]
    assert statuses == [("purchase", "duplicate"), ("return", "duplicate"),
                        ("return", "processed")]
    assert refunded.json()["events"][2]["points"] == -44
    assert shops.points(dana["id"]) == 0
    again = shops.woo(shop, "order.updated", raw("woocommerce/order_updated_refunded.json"),
                      secret=secret)
    assert again.json()["status"] == "duplicate" and shops.points(dana["id"]) == 0


def test_a_status_set_to_refunded_by_hand_returns_what_the_refunds_left(shops):
    shop = shops.connect("woocommerce", "shop.example.com", secret=None)
    secret = shop["secret"]
    shops.woo(shop, "order.updated", raw("woocommerce/order_updated_partial_refund.json"),
              secret=secret)
    by_hand = dict(payload("woocommerce/order_updated_partial_refund.json"),
                   status="refunded")
    answer = shops.woo(shop, "order.updated", by_hand, secret=secret).json()
    assert [(e["type"], e["status"]) for e in answer["events"]] == [
        ("purchase", "duplicate"), ("return", "duplicate"), ("return", "processed")]
    assert answer["events"][2]["id"].endswith(":order:4101:refunded")
    assert shops.points(shops.member(*DANA)["id"]) == 0


def test_a_refunded_order_patron_never_saw_paid_earns_and_returns_at_once(shops):
    shop = shops.connect("woocommerce", "shop.example.com", secret=None)
    answer = shops.woo(shop, "order.updated", raw("woocommerce/order_updated_refunded.json"),
                       secret=shop["secret"]).json()
    assert [(e["type"], e["points"]) for e in answer["events"]] == [
        ("purchase", 60), ("return", -16), ("return", -44)]
    assert shops.points(shops.member(*DANA)["id"]) == 0


def test_a_guest_order_on_hold_earns_when_it_is_paid(shops):
    shop = shops.connect("woocommerce", "shop.example.com", secret=None)
    held = payload("woocommerce/order_created_guest_on_hold.json")
    first = shops.woo(shop, "order.created", held, secret=shop["secret"]).json()
    assert first["status"] == "ignored" and first["ignored"][0]["code"] == "order_not_paid"
    assert shops.member("email", "sam.okafor@example.org") is None
    paid = dict(held, status="processing", date_paid_gmt="2026-02-17T10:00:00")
    done = shops.woo(shop, "order.updated", paid, secret=shop["secret"]).json()
    assert done["status"] == "processed" and done["events"][0]["points"] == 34
    sam = shops.member("email", "sam.okafor@example.org")
    assert [i["type"] for i in sam["identities"]] == ["email"]  # a guest: no customer id


def test_a_delivery_from_another_site_or_secret_is_refused(shops):
    shop = shops.connect("woocommerce", "shop.example.com", secret="a-secret-we-typed-in-woo")
    forged = shops.woo(shop, "order.created", raw(PROCESSING), secret="a-secret-guessed-wrong")
    assert (forged.status_code, forged.json()["code"]) == (401, "shop_signature_invalid")
    elsewhere = shops.woo(shop, "order.created", raw(PROCESSING),
                          secret="a-secret-we-typed-in-woo", source="https://evil.example/")
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "shop_domain_mismatch")
    assert shops.member(*DANA) is None


def test_an_order_in_woocommerces_documented_shape_earns_and_its_refund_takes_back_its_share(
        shops):
    shop = shops.connect("woocommerce", "https://shop.example.org/", secret=None)
    sample = "woocommerce/order_documented_shape.json"
    bought = shops.woo(shop, "order.created", raw(sample), secret=shop["secret"],
                       source="https://shop.example.org/")
    assert bought.status_code == 200, bought.text
    [event] = bought.json()["events"]
    assert (event["status"], event["points"]) == ("processed", 24)   # $24.00 of goods
    maria = shops.member("email", "maria.ortega@example.org")
    # WooCommerce refunds $15.87 of the $31.74 (half): half of each line's points go back,
    # rounded down per award (4 of the beans' 9, 7 of the mug's 15)
    refunded = dict(payload(sample), refunds=[{"id": 1190, "reason": "", "total": "-15.87"}])
    back = shops.woo(shop, "order.updated", refunded, secret=shop["secret"],
                     source="https://shop.example.org/").json()
    assert [(e["type"], e["status"]) for e in back["events"]] == [
        ("purchase", "duplicate"), ("return", "processed")]
    assert back["events"][1]["points"] == -11 and shops.points(maria["id"]) == 13
