"""Every bad request gets a problem-details answer with a stable code, never a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from patron.auth.service import revoke_key
from patron.auth.tables import api_keys
from tests.factories import member_payload


def test_missing_or_bad_key_is_401(api):
    assert api.client.get("/api/v1/members").status_code == 401
    bad = api.client.get("/api/v1/members", headers={"Authorization": "Bearer ptn_x_y"})
    assert bad.status_code == 401 and bad.json()["code"] == "unauthorized"
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_a_revoked_key_is_refused_by_the_next_request(api, database, clock):
    """Keys in use are remembered by the process; revoking one forgets it at once."""
    assert api.get("/members").status_code == 200
    assert api.get("/members").status_code == 200  # now answered from what is remembered
    prefix = api.key("admin").split("_")[1]
    key_id = database.read(lambda conn: conn.execute(
        select(api_keys.c.id).where(api_keys.c.prefix == prefix)).scalar_one())
    database.transact(lambda conn: revoke_key(conn, key_id=key_id, now=clock.now()))
    refused = api.get("/members")
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"


def test_roles_limit_what_a_key_may_do(api):
    member = api.post("/members", json=member_payload()).json()
    adjust = {"points": 10, "reason": "goodwill", "idempotency_key": "g1"}
    denied = api.post(f"/members/{member['id']}/adjustments", json=adjust, role="integration")
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    assert api.post("/members", json=member_payload(), role="analyst").status_code == 403
    assert api.get(f"/members/{member['id']}", role="analyst").status_code == 200
    done = api.post(f"/members/{member['id']}/adjustments", json=adjust)
    assert done.status_code == 201 and done.json()["balance"]["available"] == 10
    replay = api.post(f"/members/{member['id']}/adjustments", json=adjust)
    assert replay.json()["entry"]["id"] == done.json()["entry"]["id"]
    assert replay.json()["balance"]["available"] == 10


def test_adjustment_entry_explains_itself(api):
    member = api.post("/members", json=member_payload()).json()
    api.post(f"/members/{member['id']}/adjustments",
             json={"points": 25, "reason": "Sorry for the wait"},
             headers={"Idempotency-Key": "sorry-1"})
    [entry] = api.get(f"/members/{member['id']}/ledger").json()["items"]
    assert entry["kind"] == "adjust" and entry["reason"] == "Sorry for the wait"
    assert entry["actor"].startswith("key:") and entry["source"]["type"] == "request"


def test_spend_idempotency_key_reused_for_another_amount(api):
    member = api.post("/members", json=member_payload()).json()
    api.post(f"/members/{member['id']}/adjustments",
             json={"points": 100, "reason": "x", "idempotency_key": "a"})
    path = f"/members/{member['id']}/spends"
    assert api.post(path, json={"points": 10, "reason": "r", "idempotency_key": "s"}).status_code == 201
    reused = api.post(path, json={"points": 20, "reason": "r", "idempotency_key": "s"})
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[]",
    b'{"identities": "x"}',
    b'{"identities": [{"type": "email", "value": "a\\u0000@example.com"}]}',
    b'{"identities": [{"type": "external_id", "value": "ok"}], "profile": {"attributes": {"k": "\\u0000"}}}',
    b'{"identities": [{"type": "external_id", "value": "ok2"}], "profile": {"attributes": {"n": 99999999999999999999999}}}',
    b'{"identities": [{"type": "external_id", "value": "ok3"}], "profile": {"birthdate": "2999-01-01"}}',
])
def test_malformed_member_payloads_are_422(api, body):
    response = api.post("/members", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("validation_error", "invalid_identity")


@pytest.mark.parametrize("path", ["/members/99999999999999999999999", "/members/-1",
                                  "/members/%C2%B9/balance", "/members/%D9%A3",
                                  "/members/abc/balance", "/members/1/ledger?limit=100000",
                                  "/members/1/ledger?before=0"])
def test_bad_path_and_query_values_are_422(api, path):
    assert api.get(path).status_code == 422


@pytest.mark.parametrize("spend", [
    {"points": 1.5, "reason": "r", "idempotency_key": "k"},
    {"points": "10", "reason": "r", "idempotency_key": "k"},
    {"points": 0, "reason": "r", "idempotency_key": "k"},
    {"points": 10**30, "reason": "r", "idempotency_key": "k"},
    {"points": 10, "reason": "", "idempotency_key": "k"},
    {"points": 10, "reason": "r"},
])
def test_points_are_positive_bounded_integers(api, spend):
    member = api.post("/members", json=member_payload()).json()
    response = api.post(f"/members/{member['id']}/spends", json=spend)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"]


def test_events_need_timezone_aware_times(api, clock):
    response = api.post("/events", json={"id": "e", "type": "check_in", "member": {"id": 1},
                                         "occurred_at": "2026-03-01T10:00:00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "occurred_at"


def test_batch_size_is_limited(api, clock):
    event = {"id": "e", "type": "check_in", "member": {"id": 1},
             "occurred_at": clock.now().isoformat()}
    response = api.post("/events/batch", json={"events": [event] * 1001})
    assert response.status_code == 422


def test_unknown_route_and_method_are_problems(api):
    assert api.get("/nothing-here").json()["code"] == "not_found"
    assert api.request("DELETE", "/members").json()["code"] == "method_not_allowed"


def test_openapi_describes_the_api(api):
    spec = api.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/api/v1/members", "/api/v1/members/{member_id}/balance",
                 "/api/v1/members/{member_id}/ledger", "/api/v1/events",
                 "/api/v1/events/batch", "/api/v1/members/{member_id}/spends",
                 "/api/v1/members/{member_id}/adjustments"):
        assert path in spec["paths"], path


def test_docs_load_offline_and_offer_authorize(api):
    """/docs names no CDN: its script and style are the package's own, and they are served."""
    page = api.client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js",
                  "/static/vendor/swagger-ui/swagger-ui.css"):
        assert asset in page.text
        assert api.client.get(asset).status_code == 200
    spec = api.client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        **spec["components"]["securitySchemes"]["apiKey"], "type": "http", "scheme": "bearer"}
    balance = spec["paths"]["/api/v1/members/{member_id}/balance"]["get"]
    assert balance["security"] == [{"apiKey": []}]
