"""The wallet over HTTP: cashback from a purchase is pending through the return window."""

from __future__ import annotations

from patron.flows import jobs
from tests.conftest import Api
from tests.flows.test_ingest import Shop, rule

FIVE = rule("five", "purchase", {"cashback_percent": "5"}, name="5% cashback")


def test_cashback_is_pending_not_spendable_and_a_return_takes_it_back(api, clock):
    shop = Shop(api.db, clock, [FIVE], pending_days=14)
    http = Api(api.client, api.db, shop.program, clock)
    member = shop.member()
    bought = http.post("/events", json=shop.purchase(member, [("TV", "", 1, 100_00)],
                                                     order_id="A-1"))
    assert bought.status_code == 201, bought.text
    view = http.get(f"/members/{member}/wallet").json()
    assert (view["balance"], view["pending"]) == (0, 5_00)
    assert view["entries"][0]["status"] == "pending"
    assert view["entries"][0]["available_at"] is not None
    paid = http.post(f"/members/{member}/wallet/spends",
                     json={"amount": 4_00, "order_id": "A-2", "idempotency_key": "pay-1"})
    assert paid.status_code == 409 and paid.json()["code"] == "insufficient_funds"
    back = http.post("/events", json=shop.event(member, "return", {"order_id": "A-1"}))
    [reverse] = back.json()["awards"]
    assert (reverse["amount"], reverse["reason"]) == (-5_00,
                                                      "5% cashback: returned 1 × TV: −$5.00")
    clock.advance(days=15)
    jobs.run_all(api.db, clock.now())
    view = http.get(f"/members/{member}/wallet").json()
    assert (view["balance"], view["pending"]) == (0, 0)
    schema = http.client.get("/openapi.json").json()["components"]["schemas"]
    assert "pending" in schema["Wallet"]["properties"]
    assert "forgiven" in schema["Award"]["properties"]
