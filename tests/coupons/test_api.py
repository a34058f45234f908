"""Coupons over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import pytest

from tests.coupons.factories import order, publish_coupons
from tests.factories import member_payload


@pytest.fixture
def shop_api(api, database, clock):
    api.program = publish_coupons(database, clock, api.program)
    return api


def new_batch(api, coupon_type="five_off", count=3, **kwargs):
    response = api.post("/coupons/batches", json={"coupon_type": coupon_type, "count": count},
                        **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def codes_of(api, batch) -> list[dict[str, str]]:
    response = api.get(batch["codes_url"].removeprefix("/api/v1"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


def test_a_batch_is_created_once_per_idempotency_key_and_exported(shop_api):
    headers = {"Idempotency-Key": "spring-mailing"}
    batch = new_batch(shop_api, count=1_200, headers=headers)
    again = new_batch(shop_api, count=1_200, headers=headers)
    assert again == batch and batch["count"] == 1_200
    problem(shop_api.post("/coupons/batches", json={"coupon_type": "ship", "count": 1},
                          headers=headers), 409, "idempotency_key_reused")
    rows = codes_of(shop_api, batch)
    assert len(rows) == len({row["code"] for row in rows}) == 1_200
    assert rows[0].keys() == {"code", "coupon_type", "expires_at", "uses_per_code", "uses",
                              "state"}
    assert {row["coupon_type"] for row in rows} == {"five_off"}
    coupon = shop_api.get(f"/coupons/{rows[0]['code'].lower()}").json()
    assert coupon["code"] == rows[0]["code"] and coupon["batch_id"] == batch["id"]


def test_a_batch_counts_its_used_and_voided_codes(shop_api):
    batch = new_batch(shop_api, count=3)
    first, second, _ = (row["code"] for row in codes_of(shop_api, batch))
    assert shop_api.post(f"/coupons/{first}/redeem", json={
        "order_id": "o-1", "order": order()}).status_code == 201
    assert shop_api.post(f"/coupons/{second}/void", json={"reason": "leaked"}).status_code == 200
    got = shop_api.get(f"/coupons/batches/{batch['id']}").json()
    assert (got["used_codes"], got["redemptions"], got["voided_codes"]) == (1, 1, 1)
    assert [row["state"] for row in codes_of(shop_api, batch)] == ["active", "voided", "active"]


def test_batches_are_for_admin_keys_and_their_own_program(shop_api, database, clock):
    from tests.conftest import Api, make_program

    problem(shop_api.post("/coupons/batches", json={"coupon_type": "ship", "count": 1},
                          role="integration"), 403, "forbidden")
    batch = new_batch(shop_api)
    other = Api(shop_api.client, database, make_program(database, clock), clock)
    problem(other.get(f"/coupons/batches/{batch['id']}"), 404, "coupon_batch_not_found")
    problem(other.get(f"/coupons/batches/{batch['id']}/codes.csv"), 404,
            "coupon_batch_not_found")
    problem(shop_api.post("/coupons/batches", json={"coupon_type": "gone", "count": 1}), 404,
            "coupon_type_not_found")
    problem(shop_api.post("/coupons/batches", json={"coupon_type": "ship", "count": 100_001}),
            422, "validation_error")


def test_validate_then_redeem_then_release_at_checkout(shop_api):
    ten, ship = (new_batch(shop_api, t, 1) for t in ("ten_pct", "ship"))
    ten_code, ship_code = codes_of(shop_api, ten)[0]["code"], codes_of(shop_api, ship)[0]["code"]
    body = {"codes": [ship_code, ten_code.lower(), "nope"],
            "order": order(subtotal=5_000, shipping=499)}
    checked = shop_api.post("/coupons/validate", json=body, role="integration")
    assert checked.status_code == 200, checked.text
    result = checked.json()
    assert [(c["code"], c["valid"], c["discount"], c["reason"]) for c in result["codes"]] == [
        (ship_code, True, 499, None), (ten_code, True, 500, None),
        ("nope", False, 0, "unknown_code")]
    assert result["total_discount"] == 999
    redeem = {"order_id": "web-1001", "order": order(subtotal=5_000)}
    first = shop_api.post(f"/coupons/{ten_code}/redeem", json=redeem, role="integration")
    assert first.status_code == 201, first.text
    again = shop_api.post(f"/coupons/{ten_code}/redeem", json=redeem, role="integration")
    assert again.status_code == 200 and again.json() == first.json()
    problem(shop_api.post(f"/coupons/{ten_code}/redeem", role="integration", json={
        **redeem, "order": order(subtotal=9_000)}), 409, "idempotency_key_reused")
    used = problem(shop_api.post(f"/coupons/{ten_code}/redeem",
                                 json={**redeem, "order_id": "web-1002"}), 409, "coupon_used")
    assert used["reason"] == "used" and used["coupon"] == ten_code
    released = shop_api.post(f"/coupons/{ten_code}/release", json={"order_id": "web-1001"})
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert shop_api.post(f"/coupons/{ten_code}/redeem",
                         json={**redeem, "order_id": "web-1002"}).status_code == 201
    problem(shop_api.post(f"/coupons/{ten_code}/release", json={"order_id": "web-9"}), 404,
            "redemption_not_found")


def test_checkout_refusals_are_problems_with_the_reason(shop_api):
    code = codes_of(shop_api, new_batch(shop_api, "five_off", 1))[0]["code"]
    short = problem(shop_api.post(f"/coupons/{code}/redeem", json={
        "order_id": "o-1", "order": order(subtotal=100)}), 409, "coupon_min_spend_not_met")
    assert short["reason"] == "min_spend_not_met"
    problem(shop_api.post(f"/coupons/{code}/redeem", json={
        "order_id": "o-1", "order": order(currency="eur")}), 409, "coupon_currency_mismatch")
    unknown = problem(shop_api.post("/coupons/NOPE-1234/redeem", json={
        "order_id": "o-1", "order": order()}), 404, "coupon_not_found")
    assert unknown["reason"] == "unknown_code"
    problem(shop_api.post("/coupons/validate", json={"order": order()}), 422,
            "validation_error")
    problem(shop_api.post("/coupons/validate", json={
        "code": code, "member_id": 10**12, "order": order()}), 404, "member_not_found")
    problem(shop_api.get("/coupons/%00%00"), 404, "coupon_not_found")


def test_a_members_code_over_http(shop_api, database):
    from patron.coupons import service

    member = shop_api.post("/members", json=member_payload()).json()
    issued = database.transact(lambda conn: service.issue(
        conn, shop_api.program, "five_off", member_id=member["id"],
        now=shop_api.clock.now(), source="reward:1"))
    problem(shop_api.post(f"/coupons/{issued.code}/redeem", json={
        "order_id": "o-1", "order": order()}), 409, "coupon_member_required")
    done = shop_api.post(f"/coupons/{issued.code}/redeem", json={
        "order_id": "o-1", "member_id": member["id"], "order": order()})
    assert done.status_code == 201 and done.json()["member_id"] == member["id"]
    problem(shop_api.post(f"/coupons/{issued.code}/void", json={"reason": "x"}), 409,
            "coupon_used")
