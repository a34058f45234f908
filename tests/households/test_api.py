"""The households API over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from patron.program.versions import publish
from patron.program.document import ProgramDocument
from tests.factories import member_payload
from tests.households.conftest import POOLED


@pytest.fixture
def family_api(api):
    """The ``api`` client on a program that pools households' points."""
    document = ProgramDocument.model_validate({
        "name": "Shop", "settings": {"currency": "USD", "pending_days": 0,
                                     "expiry": {"days": None}},
        "earn_rules": [{"id": "base", "name": "1 point per $1", "on": "purchase",
                        "points": {"per_currency_unit": "1"}}],
        "households": {**POOLED, "max_members": 3}})
    api.db.transact(lambda conn: publish(conn, api.program, document, actor="test",
                                         now=api.clock.now()))
    return api


def new_member(api, points: int = 0) -> int:
    member_id = api.post("/members", json=member_payload()).json()["id"]
    if points:
        r = api.post(f"/members/{member_id}/adjustments",
                     json={"points": points, "reason": "welcome",
                           "idempotency_key": f"w{member_id}"})
        assert r.status_code == 201, r.text
    return member_id


def test_a_family_pools_points_and_only_adults_spend_them(family_api):
    api = family_api
    owner, adult, child = new_member(api, 200), new_member(api), new_member(api, 50)
    created = api.post("/households", json={"name": "The Smiths", "owner_member_id": owner},
                       headers={"Idempotency-Key": "fam-1"})
    assert created.status_code == 201, created.text
    family = created.json()
    replay = api.post("/households", json={"name": "The Smiths", "owner_member_id": owner},
                      headers={"Idempotency-Key": "fam-1"})
    assert replay.status_code == 201 and replay.json()["id"] == family["id"]
    base = f"/households/{family['id']}"
    joined = api.post(f"{base}/members", json={"member_id": adult, "role": "adult"})
    assert joined.status_code == 201, joined.text
    added = api.post(f"{base}/members", json={"member_id": child, "role": "child"})
    assert [m["role"] for m in added.json()["members"]] == ["owner", "adult", "child"]
    assert api.get(f"{base}/balance").json()["available"] == 250

    events = {"events": [
        {"id": "e1", "type": "purchase", "member": {"id": adult},
         "occurred_at": api.clock.now().isoformat(),
         "data": {"order_id": "o1", "currency": "USD", "total": 4000}},
        {"id": "e2", "type": "purchase", "member": {"id": child},
         "occurred_at": api.clock.now().isoformat(),
         "data": {"order_id": "o2", "currency": "USD", "total": 1000}}]}
    ingested = api.post("/events/batch", json=events)
    assert ingested.status_code == 200, ingested.text
    pool = api.get(f"{base}/balance").json()
    assert (pool["available"], pool["pooled_points"]) == (300, True)
    ledger = api.get(f"{base}/ledger").json()["items"]
    assert {(e["member_id"], e["points"]) for e in ledger if e["kind"] == "earn"} == {
        (adult, 40), (child, 10)}

    seen = api.get(f"/members/{child}/balance").json()
    assert (seen["household_id"], seen["pooled"], seen["available"], seen["can_spend"]) == (
        family["id"], True, 300, False)
    refused = api.post(f"{base}/spends", json={"member_id": child, "points": 10,
                                               "reason": "sweets", "idempotency_key": "k1"})
    assert refused.status_code == 403 and refused.json()["code"] == "household_role_forbidden"
    assert refused.headers["content-type"].startswith("application/problem+json")
    refused = api.post(f"/members/{child}/spends", json={"points": 10, "reason": "sweets",
                                                         "idempotency_key": "k2"})
    assert refused.status_code == 403 and refused.json()["code"] == "household_role_forbidden"
    spent = api.post(f"{base}/spends", json={"member_id": adult, "points": 100,
                                             "reason": "groceries", "idempotency_key": "k3"})
    assert spent.status_code == 201, spent.text
    assert spent.json()["entry"]["member_id"] == adult
    assert spent.json()["balance"]["available"] == 200
    short = api.post(f"/members/{owner}/spends", json={"points": 201, "reason": "tv",
                                                       "idempotency_key": "k4"})
    assert short.status_code == 409 and short.json()["code"] == "insufficient_points"


def test_membership_rules_over_http(family_api):
    api = family_api
    owner, other_owner, adult = new_member(api), new_member(api), new_member(api)
    family = api.post("/households", json={"name": "A", "owner_member_id": owner}).json()
    other = api.post("/households", json={"name": "B", "owner_member_id": other_owner}).json()
    base = f"/households/{family['id']}"
    joined = api.post(f"{base}/members", json={"member_id": adult, "role": "adult"})
    assert joined.status_code == 201
    taken = api.post(f"/households/{other['id']}/members",
                     json={"member_id": adult, "role": "child"})
    assert taken.status_code == 409 and taken.json()["code"] == "already_in_household"
    full = api.post(f"{base}/members", json={"member_id": new_member(api), "role": "adult"})
    assert full.status_code == 201
    over = api.post(f"{base}/members", json={"member_id": new_member(api), "role": "adult"})
    assert over.status_code == 409 and over.json()["code"] == "household_full"
    bad_role = api.post(f"{base}/members", json={"member_id": new_member(api), "role": "owner"})
    assert bad_role.status_code == 422

    stuck = api.request("DELETE", f"{base}/members/{owner}")
    assert stuck.status_code == 409 and stuck.json()["code"] == "owner_cannot_leave"
    handed = api.post(f"{base}/owner", json={"member_id": adult})
    assert handed.json()["owner_member_id"] == adult
    left = api.request("DELETE", f"{base}/members/{owner}")
    assert left.status_code == 200
    assert owner not in [m["member_id"] for m in left.json()["members"]]
    history = api.get(base).json()["history"]
    assert [(p["role"], p["end_reason"]) for p in history if p["member_id"] == owner] == [
        ("owner", "role_changed"), ("adult", "left")]
    assert api.get("/households/999999999").json()["code"] == "household_not_found"
    gone = api.request("DELETE", base)
    assert gone.status_code == 200 and gone.json()["status"] == "dissolved"
    again = api.post(f"{base}/members", json={"member_id": owner, "role": "adult"})
    assert again.status_code == 409 and again.json()["code"] == "household_dissolved"
