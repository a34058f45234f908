"""The catalog, redemptions, cancellations and donations over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.rewards.factories import REWARDS, Store


def store_for(api, **kwargs) -> Store:
    store = Store(api.db, api.clock, program=api.program, **kwargs)
    api.program = store.program
    return store


def test_member_redeems_retries_reads_and_cancels(api):
    store = store_for(api)
    member = store.member(points=450)
    catalog = api.get(f"/members/{member}/rewards")
    assert catalog.status_code == 200, catalog.text
    body = catalog.json()
    assert body["available_points"] == 450
    offers = {o["id"]: o for o in body["items"]}
    assert offers["tasting"]["reason"] == "insufficient_points"
    assert offers["tasting"]["limit_per_member"] == {"period": "year", "count": 1, "used": 0}
    assert (offers["mug"]["eligible"], offers["mug"]["stock_remaining"]) == (True, 10)
    assert len(api.get(f"/members/{member}/rewards", params={"all": True}).json()["items"]) == 5

    created = api.post(f"/members/{member}/redemptions",
                       json={"reward_id": "coffee", "idempotency_key": "order-77"})
    assert created.status_code == 201, created.text
    redemption = created.json()
    assert redemption["coupon_code"] and redemption["fulfilment"] == "coupon_issued"
    assert redemption["lots"][0]["points"] == -100
    retry = api.post(f"/members/{member}/redemptions",
                     json={"reward_id": "coffee", "idempotency_key": "order-77"})
    assert (retry.status_code, retry.json()["id"]) == (200, redemption["id"])
    by_header = api.post(f"/members/{member}/redemptions", json={"reward_id": "mug"},
                         headers={"Idempotency-Key": "mug-1"})
    assert by_header.status_code == 201 and by_header.json()["fulfilment"] == \
        "pending_fulfilment"
    assert api.get(f"/members/{member}/balance").json()["available"] == 50

    one = api.get(f"/redemptions/{redemption['id']}").json()
    assert one["coupon_code"] == redemption["coupon_code"]
    page = api.get(f"/members/{member}/redemptions", params={"limit": 1}).json()
    assert [r["reward_id"] for r in page["items"]] == ["mug"] and page["next_cursor"]

    cancelled = api.post(f"/redemptions/{redemption['id']}/cancel",
                         json={"reason": "wrong reward"})
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == (
        "cancelled", "wrong reward")
    again = api.post(f"/redemptions/{redemption['id']}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert api.get(f"/members/{member}/balance").json()["available"] == 150
    coupon = api.get(f"/coupons/{redemption['coupon_code']}")
    assert coupon.status_code == 200 and coupon.json()["status"] == "voided"
    store.assert_exact(member)


def test_refusals_are_problems_with_the_catalog_reason(api):
    store = store_for(api, rewards=[
        {"id": "last", "name": "Last one", "type": "gift", "cost_points": 10, "stock": 1},
        {"id": "dear", "name": "Dear", "type": "gift", "cost_points": 10_000}])
    a, b = store.member(points=100), store.member(points=100)
    assert api.post(f"/members/{a}/redemptions",
                    json={"reward_id": "last", "idempotency_key": "a"}).status_code == 201
    gone = api.post(f"/members/{b}/redemptions",
                    json={"reward_id": "last", "idempotency_key": "b"})
    assert gone.status_code == 409
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert (gone.json()["code"], gone.json()["reward_id"]) == ("out_of_stock", "last")
    short = api.post(f"/members/{b}/redemptions", json={"reward_id": "dear",
                                                          "idempotency_key": "c"})
    assert (short.status_code, short.json()["code"]) == (409, "insufficient_points")
    reused = api.post(f"/members/{a}/redemptions",
                      json={"reward_id": "dear", "idempotency_key": "a"})
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    missing = api.post(f"/members/{b}/redemptions", json={"reward_id": "last"})
    assert (missing.status_code, missing.json()["code"]) == (422, "invalid_input")
    unknown = api.post(f"/members/{b}/redemptions", json={"reward_id": "nope",
                                                            "idempotency_key": "d"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "reward_not_found")
    nobody = api.post("/members/987654321/redemptions",
                      json={"reward_id": "last", "idempotency_key": "e"})
    assert (nobody.status_code, nobody.json()["code"]) == (404, "member_not_found")
    assert api.get("/redemptions/987654321").json()["code"] == "redemption_not_found"
    assert api.post("/redemptions/987654321/cancel").status_code == 404
    assert store.points(b) == 100


def test_reading_keys_cannot_redeem_and_donations_are_totalled(api):
    store = store_for(api)
    member = store.member(points=500)
    refused = api.post(f"/members/{member}/redemptions", role="analyst",
                       json={"reward_id": "trees", "idempotency_key": "t0"})
    assert refused.status_code == 403
    for n in range(3):
        assert api.post(f"/members/{member}/redemptions", role="integration",
                        json={"reward_id": "trees", "idempotency_key": f"t{n + 1}"}
                        ).status_code == 201
    totals = api.get("/donations", role="analyst").json()
    assert totals == {"causes": [{"cause": "Reforestation", "donations": 3, "members": 1,
                                  "points": 150}], "donations": 3, "points": 150}
    later = api.get("/donations", params={"since": "2030-01-01T00:00:00Z"}).json()
    assert later["donations"] == 0
    naive = api.get("/donations", params={"since": "2030-01-01T00:00:00"})
    assert naive.status_code == 422


def test_redeemed_gifts_and_experiences_move_on_and_then_cannot_be_cancelled(api):
    store = store_for(api)
    member = store.member(points=1500)

    def redeem(reward_id: str, key: str) -> dict:
        made = api.post(f"/members/{member}/redemptions",
                        json={"reward_id": reward_id, "idempotency_key": key})
        assert made.status_code == 201, made.text
        return made.json()

    def move(redemption: dict, state: str):
        return api.post(f"/redemptions/{redemption['id']}/fulfilment", json={"state": state})

    mug, tasting, coffee = redeem("mug", "m1"), redeem("tasting", "t1"), redeem("coffee", "c1")
    assert (mug["fulfilment"], tasting["fulfilment"]) == ("pending_fulfilment", "booked")
    assert move(mug, "attended").json()["code"] == "fulfilment_not_tracked"
    assert move(coffee, "sent").json()["code"] == "fulfilment_not_tracked"
    sent = move(mug, "sent")
    assert (sent.status_code, sent.json()["fulfilment"]) == (200, "sent")
    assert move(mug, "sent").json()["fulfilment"] == "sent"  # a retry changes nothing
    assert move(mug, "delivered").json()["fulfilment"] == "delivered"
    backwards = move(mug, "sent")
    assert (backwards.status_code, backwards.json()["code"]) == (409, "fulfilment_backwards")
    refused = api.post(f"/redemptions/{mug['id']}/cancel")
    assert (refused.status_code, refused.json()["code"]) == (409, "gift_sent")
    assert api.get(f"/redemptions/{mug['id']}").json()["status"] == "active"

    assert move(tasting, "attended").json()["fulfilment"] == "attended"
    refused = api.post(f"/redemptions/{tasting['id']}/cancel")
    assert (refused.status_code, refused.json()["code"]) == (409, "experience_attended")
    assert store.points(member) == 1500 - 300 - 500 - 100
    assert store.stock("mug").remaining == 9 and store.stock("tasting").remaining == 1

    waiting = redeem("mug", "m2")
    cancelled = api.post(f"/redemptions/{waiting['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["fulfilment"] == "cancelled"
    late = move(waiting, "sent")
    assert (late.status_code, late.json()["code"]) == (409, "redemption_cancelled")
    assert store.points(member) == 1500 - 300 - 500 - 100
    store.assert_exact(member)


def test_a_published_version_is_what_the_next_member_request_sees(api):
    store = store_for(api)
    member = store.member(points=450)

    def ids() -> set[str]:
        return {o["id"] for o in api.get(f"/members/{member}/rewards",
                                         params={"all": True}).json()["items"]}
    assert "coffee" in ids()
    store.publish([r for r in REWARDS if r["id"] != "coffee"])
    assert "coffee" not in ids()
    refused = api.post(f"/members/{member}/redemptions", json={"reward_id": "coffee"},
                       headers={"Idempotency-Key": "gone-1"})
    assert refused.status_code == 404, refused.text
    store.publish()
    assert "coffee" in ids()
    made = api.post(f"/members/{member}/redemptions", json={"reward_id": "coffee"},
                    headers={"Idempotency-Key": "back-1"})
    assert made.status_code == 201, made.text
