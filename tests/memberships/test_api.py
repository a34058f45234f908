"""Memberships over HTTP, on SQLite and PostgreSQL: payloads, problem codes, idempotency."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from patron.memberships import jobs
from tests.conftest import Api
from tests.factories import member_payload
from tests.memberships.factories import Club

PAID = {"plan_id": "plus", "payment": {"reference": "ch_1", "amount": 4900}}


@pytest.fixture
def club_api(api, database, clock) -> Api:
    club = Club(database, clock)
    return Api(api.client, database, club.program, clock)


def new_member(club_api) -> int:
    response = club_api.post("/members", json=member_payload())
    assert response.status_code == 201, response.text
    return response.json()["id"]


def balance(club_api, member_id) -> int:
    return club_api.get(f"/members/{member_id}/balance").json()["available"]


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    return body


def test_subscribe_is_idempotent_with_the_key_and_credits_the_bonus_once(club_api):
    member = new_member(club_api)
    headers = {"Idempotency-Key": "sub-1"}
    first = club_api.post(f"/members/{member}/memberships", json=PAID, headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["state"] == "active" and body["plan_id"] == "plus"
    assert body["paid_until"].startswith("2027-03-02T12:00:00")
    assert body["transitions"][0]["event"] == "activated"
    assert body["transitions"][0]["payment_reference"] == "ch_1"
    assert balance(club_api, member) == 500
    retry = club_api.post(f"/members/{member}/memberships", json=PAID, headers=headers)
    assert retry.status_code == 201 and retry.json() == body
    assert balance(club_api, member) == 500
    ledger = club_api.get(f"/members/{member}/ledger").json()["items"]
    assert [e["reason"] for e in ledger] == ["Welcome bonus: Plus membership"]
    second = club_api.post(f"/members/{member}/memberships", json=PAID)
    problem = assert_problem(second, 409, "membership_exists")
    assert problem["membership_id"] == body["id"]
    reused = club_api.post(f"/members/{member}/memberships", headers=headers,
                           json={"plan_id": "monthly"})
    assert_problem(reused, 409, "idempotency_key_reused")


def test_unknown_plan_and_bad_payloads_are_422(club_api):
    member = new_member(club_api)
    unknown = club_api.post(f"/members/{member}/memberships", json={"plan_id": "gold"})
    problem = assert_problem(unknown, 422, "unknown_plan")
    assert problem["field"] == "plan_id" and "plus" in problem["detail"]
    short = club_api.post(f"/members/{member}/memberships", json={
        "plan_id": "plus", "payment": {"reference": "ch_2", "amount": 100}})
    assert_problem(short, 422, "payment_too_small")
    euro = club_api.post(f"/members/{member}/memberships", json={
        "plan_id": "plus", "payment": {"reference": "ch_2", "amount": 4900,
                                       "currency": "EUR"}})
    assert_problem(euro, 422, "payment_currency_mismatch")
    negative = club_api.post(f"/members/{member}/memberships", json={
        "plan_id": "plus", "payment": {"reference": "ch_2", "amount": -1}})
    assert_problem(negative, 422, "validation_error")
    assert club_api.get(f"/members/{member}/memberships").json()["items"] == []


def test_unknown_member_and_membership_are_404(club_api):
    assert_problem(club_api.post("/members/999999999/memberships", json=PAID), 404,
                   "member_not_found")
    assert_problem(club_api.get("/members/999999999/memberships"), 404, "member_not_found")
    assert_problem(club_api.post("/memberships/999999999/cancel"), 404,
                   "membership_not_found")
    assert_problem(club_api.post("/memberships/999999999/renew", json={
        "payment": {"reference": "x", "amount": 4900}}), 404, "membership_not_found")


def test_renew_cancel_and_the_history(club_api, clock):
    member = new_member(club_api)
    created = club_api.post(f"/members/{member}/memberships", json=PAID).json()
    renew = {"payment": {"reference": "ch_renew", "amount": 4900}}
    renewed = club_api.post(f"/memberships/{created['id']}/renew", json=renew)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["paid_until"].startswith("2028-03-02T12:00:00")
    replay = club_api.post(f"/memberships/{created['id']}/renew", json=renew)
    assert replay.json()["paid_until"] == renewed.json()["paid_until"]
    cancelled = club_api.post(f"/memberships/{created['id']}/cancel",
                              json={"reason": "too expensive"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["benefits_active"]
    again = club_api.post(f"/memberships/{created['id']}/cancel")
    assert_problem(again, 409, "membership_already_cancelled")
    clock.set(datetime(2028, 3, 2, 12, tzinfo=timezone.utc))
    jobs.run(club_api.db, clock.now(), program_id=club_api.program.id)
    assert_problem(club_api.post(f"/memberships/{created['id']}/cancel"), 409,
                   "membership_not_active")
    assert_problem(club_api.post(f"/memberships/{created['id']}/renew", json={
        "payment": {"reference": "ch_late", "amount": 4900}}), 409, "membership_ended")
    [item] = club_api.get(f"/members/{member}/memberships", role="analyst").json()["items"]
    assert item["state"] == "ended" and not item["benefits_active"]
    assert [(t["event"], t["from_state"], t["to_state"]) for t in item["transitions"]] == [
        ("activated", None, "active"), ("renewed", "active", "active"),
        ("cancelled", "active", "cancelled"), ("ended", "cancelled", "ended")]
    assert item["transitions"][2]["reason"].startswith("cancelled: too expensive")
    assert club_api.get(f"/memberships/{created['id']}").json() == item


def test_pending_payment_then_paid_through_renew(club_api):
    member = new_member(club_api)
    pending = club_api.post(f"/members/{member}/memberships", json={"plan_id": "plus"})
    assert pending.status_code == 201 and pending.json()["state"] == "pending_payment"
    assert balance(club_api, member) == 0
    paid = club_api.post(f"/memberships/{pending.json()['id']}/renew",
                         json={"payment": {"reference": "ch_9", "amount": 4900}})
    assert paid.json()["state"] == "active" and balance(club_api, member) == 500


def test_readers_cannot_subscribe_and_other_programs_cannot_see(club_api, database, clock):
    member = new_member(club_api)
    assert_problem(club_api.post(f"/members/{member}/memberships", json=PAID, role="analyst"),
                   403, "forbidden")
    created = club_api.post(f"/members/{member}/memberships", json=PAID).json()
    other = Api(club_api.client, database, Club(database, clock).program, clock)
    assert_problem(other.get(f"/memberships/{created['id']}"), 404, "membership_not_found")
    assert_problem(other.post(f"/memberships/{created['id']}/cancel"), 404,
                   "membership_not_found")
