"""Shopify and WooCommerce webhooks through the API, on SQLite and PostgreSQL: signed
deliveries earn once through ingest, refunds claw back through returns, and nothing a
shop (or anyone) sends is a 500."""

from __future__ import annotations

from sqlalchemy import select

from patron.audit.tables import audit_log
from patron.events.tables import events
from patron.program.document import ProgramDocument
from patron.program.versions import publish
from tests.concurrency import at_once
from tests.flows.test_ingest import BASE, SETTINGS
from tests.shops.conftest import CODE_BONUS
from tests.shops.helpers import SHOPIFY_SHOP, payload, raw, shopify_headers

ANN = ("email", "ann.lee@example.com")
PAID_1001 = "shopify/orders_create_paid.json"
# 1 point per $1 on 78.30 (the beans and the dripper after both discounts; the gift card,
# shipping and tax earn nothing), and 25 for the WELCOME10 code.
POINTS_1001 = 78 + 25


def problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    return response.json()


def recorded(shops):
    return shops.db.read(lambda conn: conn.execute(select(events.c.external_id).where(
        events.c.program_id == shops.program.id)).scalars().all())


def test_a_paid_order_earns_once_however_often_and_by_whichever_topic_it_comes(shops):
    shop = shops.connect()
    first = shops.shopify(shop, "orders/create", raw(PAID_1001))
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["status"], answer["topic"], answer["platform"]) == (
        "processed", "orders/create", "shopify")
    [event] = answer["events"]
    assert event["enrolled"] and event["points"] == POINTS_1001
    assert {a["rule_id"] for a in event["awards"]} == {"base", "welcome_code"}
    member = shops.member(*ANN)
    assert member["id"] == event["member_id"] and member["profile"]["name"] == "Ann Lee"
    assert {(i["type"], i["value"]) for i in member["identities"]} == {
        ANN, ("phone", "+12025550143"),
        ("external_id", f"shopify:{SHOPIFY_SHOP}:customer:7290384512300")}
    for topic in ("orders/create", "orders/paid"):  # a retry, then the paid topic
        again = shops.shopify(shop, topic, raw(PAID_1001))
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert again.json()["events"][0]["points"] == POINTS_1001
    assert shops.points(member["id"]) == POINTS_1001
    assert recorded(shops) == [f"shopify:{SHOPIFY_SHOP}:order:5873281290412"]


def test_an_order_created_unpaid_earns_when_it_is_paid(shops):
    shop = shops.connect()
    created = shops.shopify(shop, "orders/create", raw("shopify/orders_create_pending.json"))
    assert created.status_code == 200
    assert created.json()["status"] == "ignored"
    assert [i["code"] for i in created.json()["ignored"]] == ["order_not_paid"]
    assert shops.member("email", "ben.ortiz@example.net") is None and recorded(shops) == []
    paid = shops.shopify(shop, "orders/paid", raw("shopify/orders_paid.json"))
    assert paid.json()["status"] == "processed" and paid.json()["events"][0]["points"] == 249
    ben = shops.member("email", "ben.ortiz@example.net")  # stored normalised
    assert shops.points(ben["id"]) == 249
    assert shops.shopify(shop, "orders/paid", raw("shopify/orders_paid.json")).json()[
        "status"] == "duplicate"
    assert shops.points(ben["id"]) == 249


def test_create_and_paid_arriving_together_earn_once(shops):
    shop = shops.connect()
    order = payload("shopify/orders_create_pending.json")
    created_paid = dict(order, financial_status="paid")
    answers = at_once([("orders/create", created_paid), ("orders/paid", order)],
                      lambda sent: [shops.shopify(shop, sent[0], sent[1])])
    assert sorted(a.json()["status"] for a in answers) == ["duplicate", "processed"]
    ben = shops.member("email", "ben.ortiz@example.net")
    assert shops.points(ben["id"]) == 249


def test_a_partial_refund_takes_back_the_refunded_share_through_returns(shops):
    shop = shops.connect()
    shops.shopify(shop, "orders/create", raw(PAID_1001))
    ann = shops.member(*ANN)["id"]
    refund = shops.shopify(shop, "refunds/create", raw("shopify/refunds_create_partial.json"))
    assert refund.status_code == 200, refund.text
    [back] = refund.json()["events"]
    assert back["type"] == "return" and back["status"] == "processed"
    # One of two bags. The beans line earned its share of the 78 base points by net
    # amount (53.10 of 78.30: 53); returning 1 of 2 the member keeps 53 - floor(53 / 2) =
    # 27 of them, so 26 come back. The code bonus is the order's: it stays.
    assert {a["rule_id"]: a["points"] for a in back["awards"]} == {"base": -26}
    assert shops.points(ann) == POINTS_1001 - 26
    again = shops.shopify(shop, "refunds/create", raw("shopify/refunds_create_partial.json"))
    assert again.json()["status"] == "duplicate" and shops.points(ann) == POINTS_1001 - 26
    rest = payload("shopify/refunds_create_partial.json")
    rest["id"] = 950120931500
    rest["refund_line_items"][0]["quantity"] = 1
    rest["refund_line_items"].append({"id": 539845607596, "quantity": 1,
                                      "line_item_id": 14234119585964, "restock_type": "return"})
    shops.shopify(shop, "refunds/create", rest)
    assert shops.points(ann) == 0  # everything that earned is back: the bonus too


def test_refunds_patron_cannot_place_are_acknowledged(shops):
    shop = shops.connect()
    unknown = shops.shopify(shop, "refunds/create", raw("shopify/refunds_create_partial.json"))
    assert unknown.status_code == 200
    assert [i["code"] for i in unknown.json()["ignored"]] == ["order_not_recorded"]
    shops.shopify(shop, "orders/create", raw(PAID_1001))
    gift_card = payload("shopify/refunds_create_partial.json")
    gift_card["refund_line_items"][0]["line_item_id"] = 14234119618732
    answer = shops.shopify(shop, "refunds/create", gift_card).json()
    assert [i["code"] for i in answer["ignored"]] == ["refund_lines_not_recorded"]
    assert shops.points(shops.member(*ANN)["id"]) == POINTS_1001


def test_a_guest_checkout_earns_for_its_email_and_one_without_any_is_ignored(shops):
    shop = shops.connect()
    guest = shops.shopify(shop, "orders/create", raw("shopify/orders_create_guest.json"))
    assert guest.json()["status"] == "processed"
    cleo = shops.member("email", "cleo.park@example.org")
    assert cleo["profile"]["name"] == "Cleo Park" and shops.points(cleo["id"]) == 19
    nobody = dict(payload("shopify/orders_create_guest.json"), id=5873281388716, email=None,
                  contact_email=None)
    answer = shops.shopify(shop, "orders/create", nobody)
    assert answer.status_code == 200
    assert [i["code"] for i in answer.json()["ignored"]] == ["no_customer_identity"]


def test_forged_missing_and_foreign_signatures_are_refused(shops):
    shop = shops.connect()
    forged = shops.shopify(shop, "orders/paid", raw(PAID_1001), secret="not-the-shops-secret")
    problem(forged, 401, "shop_signature_invalid")
    missing = shops.shopify(shop, "orders/paid", raw(PAID_1001), signed=False)
    problem(missing, 401, "shop_signature_missing")
    body = raw(PAID_1001)
    headers = {**shops_headers(body), "X-Shopify-Hmac-Sha256": "é".encode("latin-1")}
    problem(shops.client.post(shop["webhook_path"], content=body, headers=headers), 401,
            "shop_signature_invalid")
    tampered = shops.client.post(shop["webhook_path"], content=body.replace(b"32.00", b"3200"),
                                 headers=shops_headers(body))
    problem(tampered, 401, "shop_signature_invalid")
    foreign = shops.shopify(shop, "orders/paid", raw(PAID_1001), shop="other.myshopify.com")
    problem(foreign, 403, "shop_domain_mismatch")
    assert recorded(shops) == [] and shops.member(*ANN) is None


def shops_headers(body):
    return shopify_headers("orders/paid", body)


def test_webhooks_to_no_connection_are_404(shops):
    shop = shops.connect()
    for path in ("/api/v1/shops/shopify/999999", "/api/v1/shops/shopify/x1",
                 shop["webhook_path"].replace("shopify", "woocommerce"),
                 shop["webhook_path"].replace("shopify", "magento")):
        problem(shops.client.post(path, content=raw(PAID_1001),
                                  headers=shops_headers(raw(PAID_1001))),
                404, "shop_connection_not_found")
    assert shops.request("DELETE", f"/shops/connections/{shop['id']}").status_code == 204
    problem(shops.shopify(shop, "orders/paid", raw(PAID_1001)), 404,
            "shop_connection_not_found")


def test_topics_patron_does_not_act_on_are_acknowledged(shops):
    shop = shops.connect()
    other = shops.shopify(shop, "orders/cancelled", raw(PAID_1001))
    assert other.status_code == 200 and other.json()["status"] == "ignored"
    assert other.json()["ignored"][0]["code"] == "topic_not_handled"
    assert recorded(shops) == []
    body = raw(PAID_1001)
    headers = {k: v for k, v in shops_headers(body).items() if k != "X-Shopify-Topic"}
    problem(shops.client.post(shop["webhook_path"], content=body, headers=headers), 400,
            "shop_topic_missing")


def test_bodies_that_are_not_orders_are_4xx_problems_never_500(shops):
    shop = shops.connect()
    for body, status, code in ((b"{not json", 400, "malformed_shop_payload"),
                               (b"[" * 50_000, 400, "malformed_shop_payload"),
                               (b'"an order"', 400, "malformed_shop_payload"),
                               (b'{"id": 1}', 422, "invalid_shop_payload"),
                               (b"", 400, "malformed_shop_payload")):
        problem(shops.shopify(shop, "orders/paid", body), status, code)
    nul = payload(PAID_1001)
    nul["line_items"][0]["sku"] = "BNS\u0000"
    answer = problem(shops.shopify(shop, "orders/paid", nul), 422, "invalid_shop_payload")
    assert answer["field"] == "data" and "NUL" in answer["detail"]
    future = dict(payload(PAID_1001), processed_at="2031-01-01T00:00:00Z")
    problem(shops.shopify(shop, "orders/paid", future), 422, "occurred_in_future")
    assert recorded(shops) == []


def test_an_order_in_another_currency_is_ingests_problem(shops):
    shop = shops.connect()
    euros = dict(payload(PAID_1001), currency="EUR")
    problem(shops.shopify(shop, "orders/paid", euros), 422, "currency_mismatch")
    assert recorded(shops) == [] and shops.member(*ANN) is None


def test_a_known_member_is_found_by_any_identity_the_order_carries(shops):
    phone_only = shops.post("/members", json={"identities": [
        {"type": "phone", "value": "(202) 555-0143"}], "profile": {"name": "Ann at the till"}})
    assert phone_only.status_code == 201
    someone = shops.post("/members", json={"identities": [
        {"type": "email", "value": "someone@example.com"}]}).json()
    shop = shops.connect()
    order = payload(PAID_1001)
    order["customer"]["email"] = order["email"] = order["contact_email"] = None
    order["customer"]["phone"] = "+12025550143"
    [event] = shops.shopify(shop, "orders/paid", order).json()["events"]
    assert event["member_id"] == phone_only.json()["id"] and not event["enrolled"]
    ann = shops.get(f"/members/{event['member_id']}").json()
    assert ann["profile"]["name"] == "Ann at the till"  # a known member keeps their profile
    assert ("external_id", f"shopify:{SHOPIFY_SHOP}:customer:7290384512300") in {
        (i["type"], i["value"]) for i in ann["identities"]}
    # Another member's email on an order is not taken from them.
    order.update(id=5873281421484, email="someone@example.com")
    [other] = shops.shopify(shop, "orders/paid", order).json()["events"]
    assert other["member_id"] == ann["id"]
    assert shops.member("email", "someone@example.com")["id"] == someone["id"]


def test_each_processed_delivery_is_in_the_audit_log_as_its_shop(shops):
    shop = shops.connect()
    shops.shopify(shop, "orders/create", raw(PAID_1001))
    shops.shopify(shop, "orders/create", raw("shopify/orders_create_pending.json"))
    rows = shops.db.read(lambda conn: conn.execute(select(audit_log).where(
        audit_log.c.program_id == shops.program.id,
        audit_log.c.actor == f"shop:{shop['id']}")).all())
    [row] = rows  # the ignored delivery changed nothing and wrote nothing
    assert (row.outcome, row.operation) == (
        "succeeded", "POST /api/v1/shops/{platform}/{connection_id}")
    assert row.member_id == shops.member(*ANN)["id"]


def test_a_program_that_does_not_enrol_from_purchases_acknowledges_strangers(shops, clock):
    document = ProgramDocument.model_validate({
        "name": "Patron Roasters", "settings": {**SETTINGS, "auto_enrol": False},
        "earn_rules": [BASE, CODE_BONUS]})
    shops.db.transact(lambda conn: publish(conn, shops.program, document, actor="test",
                                           now=clock.now()))
    shop = shops.connect()
    stranger = shops.shopify(shop, "orders/paid", raw(PAID_1001))
    assert stranger.status_code == 200
    assert [i["code"] for i in stranger.json()["ignored"]] == ["not_a_member"]
    assert recorded(shops) == []
    ann = shops.post("/members", json={"identities": [{"type": "email",
                                                       "value": "ann.lee@example.com"}]})
    member = shops.shopify(shop, "orders/paid", raw(PAID_1001)).json()
    assert member["status"] == "processed"
    assert member["events"][0]["member_id"] == ann.json()["id"]
