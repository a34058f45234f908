"""Hostile input at the edges: far dates, over-long or NUL-laden strings, huge bodies and
unexpected failures each get a problem-details answer, and nothing is half written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from patron.programs.service import get_program
from patron.programs.versions import publish
from patron.rules.document import ProgramDocument
from tests.earning.test_ingest import BASE
from tests.factories import member_payload, purchase
from tests.programs.factories import document
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
