"""Hostile input at the edges: far dates, over-long or NUL-laden strings, huge bodies and
unexpected failures each get a problem-details answer, and nothing is half written."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Column

from patron.api.app import create_app
from patron.campaigns.tables import campaign_members
from patron.coupons.tables import coupon_batches, coupon_redemptions, coupons
from patron.engagement.tables import member_engagement
from patron.db import create_database
from patron.events.schemas import PaymentData, PurchaseData, ReturnData
from patron.events.tables import events, order_lines, orders
from patron.households.tables import household_members, households
from patron.idempotency.tables import idempotency_records
from patron.ledger.tables import ledger_entries
from patron.members import service as member_service
from patron.members.tables import (consent_changes, identities, member_status_changes, members,
                                   merge_candidates, merges)
from patron.memberships.tables import membership_transitions, memberships
from patron.program.service import get_program
from patron.program.tables import program_versions
from patron.recommendations.tables import recommendation_segments
from patron.referrals.tables import referrals
from patron.rewards.tables import gift_grants, redemptions
from patron.segments.tables import member_tags, segments
from patron.shops.tables import shop_connections
from patron.webhooks.tables import webhook_endpoints, webhook_messages
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from patron.tiers.tables import tier_states
from patron.transfers.tables import point_transfers
from patron.wallet.tables import wallet_entries
from tests.flows.test_ingest import BASE
from tests.factories import member_payload, purchase
from tests.program.documents import document
from tests.tiers.test_tiers import LADDER


def assert_invalid(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "validation_error"
    assert any(error["field"].endswith(field) for error in body["errors"]), body


def with_tiers(api, clock) -> None:
    ladder = ProgramDocument.model_validate({
        "name": "Shop", "settings": {"pending_days": 0},
        "tiers": {"metric": "qualifying_spend", "levels": LADDER}, "earn_rules": [BASE]})
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), ladder,
                                         actor="test", now=clock.now()))


# -- 15. dates near year 1 and year 9999 -----------------------------------------------------

@pytest.mark.parametrize("query", [{"end": "9999-12-31"}, {"start": "0001-01-01"},
                                   {"calibration_end": "9999-12-31"}])
def test_analytics_days_out_of_range_are_refused(api, query):
    response = api.get("/analytics/points", role="analyst", params=query)
    assert_invalid(response, next(iter(query)))


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z",
                                         "9999-12-31T23:59:59-01:00"])
def test_events_dated_out_of_range_are_refused_and_not_recorded(api, occurred_at):
    member = api.post("/members", json=member_payload()).json()
    event = {**purchase({"id": member["id"]}, 10_00, api.clock.now()),
             "occurred_at": occurred_at}
    assert_invalid(api.post("/events", json=event), "occurred_at")
    batch = api.post("/events/batch", json={"events": [event]})
    assert_invalid(batch, "occurred_at")
    assert api.get(f"/members/{member['id']}/ledger").json()["items"] == []


def test_events_from_1970_on_are_recorded(api):
    member = api.post("/members", json=member_payload()).json()
    event = {**purchase({"id": member["id"]}, 10_00, api.clock.now()),
             "occurred_at": "1970-01-01T00:00:00Z"}
    first = api.post("/events", json=event)
    assert first.status_code in (200, 201), first.text
    assert api.post("/events", json=event).json()["status"] == "duplicate"


def test_manual_tier_until_year_9999_is_refused(api, clock):
    with_tiers(api, clock)
    member = api.post("/members", json=member_payload()).json()
    body = {"tier": "gold", "until": "9999-12-31T23:59:59-01:00", "reason": "forever"}
    response = api.request("PUT", f"/members/{member['id']}/tier", json=body)
    assert_invalid(response, "until")
    tier = api.get(f"/members/{member['id']}/tier").json()
    assert tier["manual"] is None and tier["source"] == "earned"
    later = {**body, "until": (clock.now() + timedelta(days=3650)).isoformat()}
    assert api.request("PUT", f"/members/{member['id']}/tier", json=later).status_code == 200


@pytest.mark.parametrize("timezone", ["Europe/Paris", "America/New_York"])
def test_simulating_a_year_one_event_is_refused(api, timezone):
    event = {**purchase({"identity": {"type": "email", "value": "old@example.com"}}, 10_00,
                        api.clock.now()), "occurred_at": "0001-01-01T00:00:00+00:00"}
    response = api.post("/program/simulate", role="analyst", json={
        "document": document(BASE, timezone=timezone), "events": [event]})
    assert_invalid(response, "occurred_at")


@pytest.mark.parametrize("days", [{"from": "0001-01-01", "to": "0001-01-02"},
                                  {"from": "9999-12-30", "to": "9999-12-31"}])
def test_simulating_recorded_days_out_of_range_is_refused(api, days):
    response = api.post("/program/simulate", role="analyst", json={
        "document": document(BASE, timezone="Europe/Paris"), **days})
    assert_invalid(response, "from")


@pytest.mark.parametrize("query", [{"since": "0001-01-01T00:00:00+01:00"},
                                   {"until": "9999-12-31T23:59:59-01:00"}])
def test_donation_totals_out_of_range_are_refused(api, query):
    assert_invalid(api.get("/donations", params=query), next(iter(query)))


@pytest.mark.parametrize("bounds", [{"valid_until": "9999-12-31"},
                                    {"valid_until": "9999-12-31T23:59:59-01:00"},
                                    {"valid_from": "0001-01-01"}])
def test_program_validity_dates_out_of_range_are_refused(api, bounds):
    rule = {**BASE, "id": "dated", **bounds}
    reward = {"id": "mug", "name": "Mug", "type": "gift", "cost_points": 100, **bounds}
    for draft in (document(rule, timezone="Europe/Paris"),
                  {**document(BASE, timezone="Europe/Paris"), "rewards": [reward]}):
        response = api.request("PUT", "/program", json=draft)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_program_document"
    assert api.get("/program").json()["version"] == 1


# -- 16. what the schemas accept fits the columns, on both databases ------------------------

def test_a_region_longer_than_its_column_is_refused_on_both_databases(api):
    long_region = api.post("/members", json=member_payload(
        profile={"name": "Ann", "region": "R" * 150}))
    assert_invalid(long_region, "profile.region")
    assert api.get("/members").json()["items"] == []
    member = api.post("/members", json=member_payload(profile={"region": "R" * 100}))
    assert member.status_code == 201, member.text
    assert member.json()["profile"]["region"] == "R" * 100
    patch = api.patch(f"/members/{member.json()['id']}",
                      json={"profile": {"region": "S" * 101}})
    assert_invalid(patch, "profile.region")
    assert api.get(f"/members/{member.json()['id']}").json()["profile"]["region"] == "R" * 100


def _pattern_length(pattern: str) -> int | None:
    """The longest string a simple anchored pattern (``^[a-z][a-z0-9_]{0,63}$``) matches."""
    total = 0
    for _, quantifier in re.findall(r"(\[[^\]]*\]|\\x..|\\.|[^\[\\{+*?])(\{[\d,]+\}|[+*?])?",
                                    pattern.strip("^$")):
        if quantifier in ("+", "*"):
            return None
        total += int(quantifier.strip("{}").split(",")[-1]) if quantifier else 1
    return total


def _string_inputs(document: dict) -> dict[tuple[str, str], dict]:
    """Every string a write request can carry: (schema, property) -> its JSON schema."""
    components, found = document["components"]["schemas"], {}

    def walk(schema: dict, owner: str, name: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            ref = schema["$ref"].split("/")[-1]
            if ref in seen:
                return
            if "properties" not in components[ref]:  # an enum of its own
                walk(components[ref], owner, name, seen | {ref})
            for prop, sub in components[ref].get("properties", {}).items():
                walk(sub, ref, prop, seen | {ref})
            return
        for sub in [*schema.get("anyOf", []), *schema.get("allOf", []),
                    schema.get("items"), schema.get("additionalProperties")]:
            if isinstance(sub, dict):
                walk(sub, owner, name, seen)
        if schema.get("type") == "string" and schema.get("format") not in ("date", "date-time"):
            found[(owner, name)] = schema

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "get":
                continue
            for parameter in operation.get("parameters", []):
                if parameter["name"] != "authorization":
                    walk(parameter["schema"], f"{method.upper()} {path}", parameter["name"],
                         frozenset())
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content["schema"], f"{method.upper()} {path}", "body", frozenset())
    return found


def _all_write_schemas(path: Path) -> dict:
    """The OpenAPI document, plus the event data the pipeline reads out of ``data``."""
    document = create_app(create_database(str(path / "schema.db"))).openapi()
    components = document["components"]["schemas"]
    for model in (PurchaseData, ReturnData, PaymentData):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        document["paths"][f"/event-data/{model.__name__}"] = {"post": {"requestBody": {
            "content": {"application/json": {"schema": {
                "$ref": f"#/components/schemas/{model.__name__}"}}}}}}
    return document


# Where each string a write request carries is stored; None: only looked up or matched,
# never written (or written only inside a JSON document).
STORED: dict[tuple[str, str], Column | None] = {
    ("AdjustmentCreate", "idempotency_key"): ledger_entries.c.idempotency_key,
    ("AdjustmentCreate", "reason"): ledger_entries.c.reason,
    ("BatchCreate", "coupon_type"): coupon_batches.c.coupon_type,
    ("CandidateReject", "reason"): merge_candidates.c.reason,
    ("ConsentIn", "channel"): consent_changes.c.channel,
    ("ConsentIn", "purpose"): consent_changes.c.purpose,
    ("ConsentIn", "source"): consent_changes.c.source,
    ("ConsentIn", "notice"): consent_changes.c.notice,
    ("ErasureRequest", "reason"): member_status_changes.c.reason,
    ("BatchCreate", "name"): coupon_batches.c.name,
    ("EventIn", "id"): events.c.external_id,
    ("EventIn", "type"): events.c.type,
    ("EventIn", "channel"): events.c.channel,
    ("GiftFulfilmentUpdate", "state"): gift_grants.c.fulfilment,
    ("HouseholdCreate", "name"): households.c.name,
    ("HouseholdMemberAdd", "role"): household_members.c.role,
    ("HouseholdMemberUpdate", "role"): household_members.c.role,
    ("HouseholdSpendCreate", "idempotency_key"): ledger_entries.c.idempotency_key,
    ("HouseholdSpendCreate", "order_id"): ledger_entries.c.order_id,
    ("HouseholdSpendCreate", "reason"): ledger_entries.c.reason,
    ("MergeCreate", "reason"): merges.c.reason,
    ("IdentityIn", "type"): identities.c.type,
    ("IdentityIn", "value"): identities.c.value,
    ("IdentityIn", "channel"): identities.c.channel,
    ("ManualTierIn", "tier"): tier_states.c.manual_tier_id,
    ("ManualTierIn", "reason"): tier_states.c.manual_reason,
    ("MemberCreate", "referral_code"): referrals.c.code,
    ("MembershipCancel", "reason"): membership_transitions.c.reason,
    ("MembershipCreate", "plan_id"): memberships.c.plan_id,
    ("OrderIn", "currency"): None,
    ("OrderLine", "sku"): None,
    ("OrderLine", "category"): None,
    ("PaymentData", "reference"): membership_transitions.c.payment_reference,
    ("PaymentData", "currency"): memberships.c.currency,
    ("PaymentData", "plan_id"): memberships.c.plan_id,
    ("PaymentIn", "reference"): membership_transitions.c.payment_reference,
    ("PaymentIn", "currency"): memberships.c.currency,
    ("Profile", "name"): members.c.name,
    ("Profile", "region"): members.c.region,
    ("Profile", "join_channel"): members.c.join_channel,
    ("ProfileUpdate", "name"): members.c.name,
    ("ProfileUpdate", "region"): members.c.region,
    ("ProfileUpdate", "join_channel"): members.c.join_channel,
    ("Profile", "given_name"): members.c.given_name,
    ("Profile", "family_name"): members.c.family_name,
    ("Profile", "gender"): members.c.gender,
    ("ProfileUpdate", "given_name"): members.c.given_name,
    ("ProfileUpdate", "family_name"): members.c.family_name,
    ("ProfileUpdate", "gender"): members.c.gender,
    ("Address", "line1"): members.c.address_line1,
    ("Address", "line2"): members.c.address_line2,
    ("Address", "city"): members.c.city,
    ("Address", "postcode"): members.c.postcode,
    ("Address", "state"): members.c.state,
    ("Address", "country"): members.c.country,
    ("StatusChange", "status"): member_status_changes.c.status,
    ("StatusChange", "reason"): member_status_changes.c.reason,
    ("PurchaseData", "order_id"): orders.c.order_id,
    ("PurchaseData", "currency"): orders.c.currency,
    ("PurchaseLine", "sku"): order_lines.c.sku,
    ("PurchaseLine", "category"): order_lines.c.category,
    ("PurchaseData", "store_id"): orders.c.store_id,
    ("PurchaseLine", "department"): order_lines.c.department,
    ("PurchaseLine", "subcategory"): order_lines.c.subcategory,
    ("PurchaseLine", "brand"): order_lines.c.brand,
    ("POST /api/v1/coupons/{code}/redeem", "code"): None,
    ("POST /api/v1/coupons/{code}/release", "code"): None,
    ("POST /api/v1/coupons/{code}/void", "code"): None,
    ("PUT /api/v1/program", "note"): program_versions.c.note,
    ("POST /api/v1/campaigns/{campaign_id}/assign", "campaign_id"):
        campaign_members.c.campaign_id,
    ("POST /api/v1/members/{member_id}/challenges/{challenge_id}/join", "challenge_id"):
        member_engagement.c.item_id,
    ("PUT /api/v1/program", "body"): program_versions.c.source,
    ("RedeemRequest", "order_id"): coupon_redemptions.c.order_id,
    ("RedemptionCancel", "reason"): redemptions.c.cancel_reason,
    ("RedemptionCreate", "idempotency_key"): redemptions.c.idempotency_key,
    ("RedemptionCreate", "reward_id"): redemptions.c.reward_id,
    ("RedemptionFulfilmentUpdate", "state"): redemptions.c.fulfilment,
    ("ReleaseRequest", "order_id"): None,
    ("ReturnData", "order_id"): None,
    ("ReturnData", "reason"): None,
    ("ReturnedLine", "sku"): None,
    ("SimulationRequest", "document"): None,
    ("SegmentCreate", "key"): segments.c.key,
    ("SegmentCreate", "name"): segments.c.name,
    ("SegmentCreate", "description"): segments.c.description,
    ("SegmentCreate", "condition"): segments.c.condition,
    ("SegmentUpdate", "name"): segments.c.name,
    ("SegmentUpdate", "description"): segments.c.description,
    ("SegmentUpdate", "condition"): segments.c.condition,
    ("PreviewIn", "condition"): None,
    ("StaticMembersIn", "identities"): None,
    ("SegmentCreate", "kind"): segments.c.kind,
    ("PUT /api/v1/members/{member_id}/tags/{tag}", "tag"): member_tags.c.tag,
    ("DELETE /api/v1/members/{member_id}/tags/{tag}", "tag"): None,
    ("POST /api/v1/segments/{key}/refresh", "key"): None,
    ("PATCH /api/v1/segments/{key}", "key"): None,
    ("PUT /api/v1/segments/{key}/members", "key"): None,
    ("LikelySegmentIn", "key"): segments.c.key,
    ("LikelySegmentIn", "name"): segments.c.name,
    ("LikelySegmentIn", "category"): recommendation_segments.c.item,
    ("LikelySegmentIn", "product"): recommendation_segments.c.item,
    ("LikelySegmentIn", "reward"): recommendation_segments.c.item,
    ("ShopConnectionCreate", "platform"): shop_connections.c.platform,
    ("ShopConnectionCreate", "shop"): None,  # a URL, stored as host and path (at most 100)
    ("ShopConnectionCreate", "secret"): shop_connections.c.secret,
    ("ShopConnectionCreate", "channel"): shop_connections.c.channel,
    ("ShopConnectionCreate", "store_id"): shop_connections.c.store_id,
    ("POST /api/v1/shops/{platform}/{connection_id}", "platform"): None,
    ("POST /api/v1/shops/{platform}/{connection_id}", "connection_id"): None,
    ("PurchaseData", "coupon_codes"): None,  # kept in the event's data
    ("SpendCreate", "idempotency_key"): ledger_entries.c.idempotency_key,
    ("SpendCreate", "order_id"): ledger_entries.c.order_id,
    ("SpendCreate", "reason"): ledger_entries.c.reason,
    ("TransferCreate", "idempotency_key"): point_transfers.c.idempotency_key,
    ("TransferCreate", "message"): point_transfers.c.message,
    ("ValidateRequest", "code"): None,
    ("ValidateRequest", "codes"): None,
    ("VoidRequest", "reason"): coupons.c.void_reason,
    ("WalletSpend", "idempotency_key"): wallet_entries.c.idempotency_key,
    ("WalletSpend", "order_id"): wallet_entries.c.order_id,
    ("EndpointCreate", "url"): webhook_endpoints.c.url,
    ("EndpointCreate", "description"): webhook_endpoints.c.description,
    ("EndpointCreate", "secret"): webhook_endpoints.c.secret,
    ("EndpointCreate", "event_types"): webhook_messages.c.event_type,
    ("EndpointUpdate", "url"): webhook_endpoints.c.url,
    ("EndpointUpdate", "description"): webhook_endpoints.c.description,
    ("EndpointUpdate", "event_types"): webhook_messages.c.event_type,
    ("ReplayRequest", "state"): webhook_messages.c.state,
}


def test_every_string_a_write_takes_fits_its_column(tmp_path):
    inputs = _string_inputs(_all_write_schemas(tmp_path))
    headers = {key for key in inputs if key[1] == "Idempotency-Key"}
    assert set(inputs) - headers == set(STORED), "map each new string input to its column"
    too_long = []
    for (owner, name), schema in inputs.items():
        column = idempotency_records.c.key if (owner, name) in headers else STORED[owner, name]
        if column is None or getattr(column.type, "length", None) is None:
            continue
        lengths = [n for n in (schema.get("maxLength"), schema.get("enum") and max(
            len(v) for v in schema["enum"]), schema.get("pattern") and _pattern_length(
            schema["pattern"])) if n]
        if not lengths or min(lengths) > column.type.length:
            too_long.append(f"{owner}.{name}: {min(lengths, default='unbounded')} > "
                            f"{column.table.name}.{column.name} ({column.type.length})")
    assert too_long == []


# -- 17. text a database cannot store (NUL, lone surrogates) is refused everywhere -----------

@pytest.mark.parametrize("body", [
    b'{"identities": [{"type": "external_id", "value": "n1"}], "referral_code": "AB\\u0000CD"}',
    b'{"identities": [{"type": "external_id", "value": "n2"}], "referral_code": "AB\\ud800CD"}',
    b'{"identities": [{"type": "external_id", "value": "n3"}], "profile": {"name": "\\udfff"}}',
    b'{"identities": [{"type": "external_id", "value": "n4"}], "profile": {"attributes": '
    b'{"\\ud800": 1}}}',
])
def test_text_a_database_cannot_store_is_refused_when_enrolling(api, body):
    response = api.post("/members", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert api.get("/members").json()["items"] == []


def test_an_escaped_backslash_before_u0000_is_plain_text(api):
    body = (b'{"identities": [{"type": "external_id", "value": "slash"}], '
            b'"profile": {"name": "C:\\\\u0000"}}')
    response = api.post("/members", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["profile"]["name"] == "C:\\u0000"


@pytest.mark.parametrize("method,path", [
    ("GET", "/members?identity=email:a%00b@example.com"),
    ("PUT", "/program?note=a%00b"),
    ("GET", "/members?identity=external_id:a%00"),
    ("GET", "/analytics/members?segment=a%00b"),
])
def test_text_a_database_cannot_store_is_refused_in_queries(api, method, path):
    response = api.request(method, path, json=document(BASE) if method == "PUT" else None)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"].startswith("query.")


def test_text_checks_come_after_the_key_check(api):
    response = api.client.get("/api/v1/members?identity=email:a%00b@example.com")
    assert response.status_code == 401


# -- 18. an unexpected failure answers a problem and leaves the connection sound -----------

def _fail(*_args, **_kwargs):
    raise RuntimeError("a defect Patron did not foresee")


def test_an_unexpected_failure_is_a_problem_that_closes_the_connection(api, monkeypatch):
    member = api.post("/members", json=member_payload()).json()
    monkeypatch.setattr(member_service, "get_member", _fail)
    response = api.get(f"/members/{member['id']}")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "internal_error"
    assert "defect" not in response.text
    assert response.headers["connection"] == "close"


@contextlib.contextmanager
def _served(app) -> Iterator[str]:
    """The app behind a real HTTP server (uvicorn), on a free local port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_after_an_unexpected_failure_the_client_goes_on(api, monkeypatch):
    member = api.post("/members", json=member_payload()).json()
    headers = {"Authorization": f"Bearer {api.key('admin')}"}
    with _served(api.client.app) as base, httpx.Client(base_url=base, headers=headers) as client:
        assert client.get(f"/api/v1/members/{member['id']}").status_code == 200
        monkeypatch.setattr(member_service, "get_member", _fail)
        failed = client.get(f"/api/v1/members/{member['id']}")
        assert failed.status_code == 500 and failed.json()["code"] == "internal_error"
        monkeypatch.undo()
        again = client.get(f"/api/v1/members/{member['id']}")
        assert again.status_code == 200 and again.json()["id"] == member["id"]


# -- 19. request bodies are bounded -----------------------------------------------------------

def assert_too_large(response) -> None:
    assert response.status_code == 413, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "payload_too_large"
    assert response.headers["connection"] == "close"


def _enrolment_with_attribute(size: int) -> bytes:
    return json.dumps(member_payload(profile={"attributes": {"notes": "x" * size}})).encode()


def test_a_body_past_the_limit_is_refused_before_anything_is_stored(api):
    response = api.post("/members", content=_enrolment_with_attribute(5 * 2**20),
                        headers={"Content-Type": "application/json"})
    assert_too_large(response)
    assert api.get("/members").json()["items"] == []
    fits = api.post("/members", content=_enrolment_with_attribute(900_000),
                    headers={"Content-Type": "application/json"})
    assert fits.status_code == 201, fits.text[:300]


def test_a_chunked_body_is_counted_as_it_streams(api):
    body = _enrolment_with_attribute(2 * 2**20)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    response = api.post("/members", content=chunks(),
                        headers={"Content-Type": "application/json"})
    assert_too_large(response)
    assert api.get("/members").json()["items"] == []


def test_a_chunked_body_past_the_limit_is_refused_by_a_real_server(api):
    body = _enrolment_with_attribute(2 * 2**20)
    headers = {"Authorization": f"Bearer {api.key('admin')}",
               "Content-Type": "application/json"}
    with _served(api.client.app) as base, httpx.Client(base_url=base, headers=headers) as client:
        response = client.post("/api/v1/members",
                               content=(body[i:i + 2**16] for i in range(0, len(body), 2**16)))
        assert_too_large(response)
        assert client.get("/api/v1/members").json()["items"] == []


def test_bulk_endpoints_take_larger_bodies_up_to_their_own_limit(api):
    member = api.post("/members", json=member_payload()).json()
    event = purchase({"id": member["id"]}, 10_00, api.clock.now())
    padded = b'{"events": [' + json.dumps(event).encode() + b"]" + b" " * (2 * 2**20) + b"}"
    batch = api.post("/events/batch", content=padded,
                     headers={"Content-Type": "application/json"})
    assert batch.status_code == 200, batch.text[:300]
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 10
    past = b'{"events": [' + json.dumps(event).encode() + b"]" + b" " * (33 * 2**20) + b"}"
    assert_too_large(api.post("/events/batch", content=past,
                              headers={"Content-Type": "application/json"}))
    simulated = api.post("/program/simulate", headers={"Content-Type": "application/json"},
                         content=b'{"document": {"name": "x"}, "events": []' + past[-2**21:])
    assert simulated.status_code == 200, simulated.text[:300]
