"""Program as code over HTTP: publish, versions, and simulate, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.program.documents import (
    BASE,
    BIG,
    BIRTHDAY,
    DOUBLE,
    FIRST,
    as_yaml,
    document,
    purchase,
    review,
)

YAML = {"Content-Type": "application/yaml"}


def put(api, body, *, role: str = "admin", yaml: bool = False, **kwargs):
    if yaml:
        return api.request("PUT", "/program", role=role, content=body, headers=YAML, **kwargs)
    return api.request("PUT", "/program", role=role, json=body, **kwargs)


def test_publish_makes_new_versions_and_the_same_document_again_changes_nothing(api):
    assert api.get("/program").json()["version"] == 1
    first = put(api, document(BASE, FIRST), params={"note": "welcome bonus"})
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 2 and first.json()["created"] is True
    assert first.headers["location"] == "/api/v1/program/versions/2"
    again = put(api, document(BASE, FIRST))
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["created"]) == (2, False)
    assert again.json()["checksum"] == first.json()["checksum"]
    text = as_yaml(document(DOUBLE))
    third = put(api, text, yaml=True)
    assert third.status_code == 201, third.text
    assert third.json()["version"] == 3
    assert third.json()["source"] == text
    versions = api.get("/program/versions").json()["items"]
    assert [(v["version"], v["note"]) for v in versions] == [(3, None), (2, "welcome bonus"),
                                                            (1, None)]
    assert len({v["published_by"] for v in versions[:2]}) == 1
    assert versions[0]["published_by"].startswith("key:")
    assert versions[2]["published_by"] == "system"


def test_get_program_shows_the_current_document_and_its_source(api):
    text = as_yaml(document(BASE, FIRST, name="Coffee Club", points_name="Beans"))
    assert put(api, text, yaml=True).status_code == 201
    program = api.get("/program").json()
    assert program["version"] == 2 and program["name"] == "Coffee Club"
    assert program["settings"]["points_name"] == "Beans"
    assert [r["id"] for r in program["document"]["earn_rules"]] == ["base", "first"]
    assert program["document"]["earn_rules"][1]["when"] == "member.purchase_count == 0"
    assert program["source"] == text
    # What GET shows can be sent back unchanged.
    resent = put(api, program["document"])
    assert (resent.status_code, resent.json()["version"]) == (200, 2)


def test_invalid_document_is_422_listing_every_problem_by_path(api):
    bad = document({"id": "x", "name": "X", "on": "purchase",
                    "when": "member.purchase_count ==", "points": {"fixed": 5}},
                   {"id": "y", "name": "Y", "on": "purchase", "points": {}, "exclusiv": True},
                   currency="ABC")
    response = put(api, bad)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "invalid_program_document"
    paths = [p["path"] for p in body["problems"]]
    assert paths == ["settings.currency", "earn_rules[0].when", "earn_rules[1].points",
                     "earn_rules[1].exclusiv"]
    assert "did you mean 'exclusive'" in body["problems"][3]["message"]
    assert api.get("/program").json()["version"] == 1


def test_a_broken_reward_condition_is_refused_at_publish(api):
    def with_reward(when: str) -> dict:
        return {**document(BASE), "rewards": [
            {"id": "mug", "name": "Mug", "type": "gift", "cost_points": 500,
             "eligibility": {"when": when}}]}

    response = put(api, with_reward("member.purchase_count >= '3'"))
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_program_document"
    assert [p["path"] for p in body["problems"]] == ["rewards[0].eligibility.when"]
    assert body["problems"][0]["message"].startswith("type error")
    assert api.get("/program").json()["version"] == 1
    assert put(api, with_reward("member.purchase_count >= 3")).status_code == 201


@pytest.mark.parametrize("body, headers, status", [
    ("name: [unclosed", YAML, 422),
    ('{"name": "N\\u0000L"}', {"Content-Type": "application/json"}, 422),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
               for p, n in zip("abcdefgh", "bcdefghi")), YAML, 422),
    ("name: Plain", {"Content-Type": "text/plain"}, 415),
    ("x" * 1_000_001, YAML, 413),
])
def test_unreadable_documents_are_problems_not_errors(api, body, headers, status):
    response = api.request("PUT", "/program", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert api.get("/program").json()["version"] == 1


def test_a_version_cannot_change_the_currency(api):
    response = put(api, document(BASE, currency="EUR"))
    assert response.status_code == 409
    assert response.json()["code"] == "currency_change"
    assert api.get("/program").json()["version"] == 1


def test_versions_page_newest_first_and_each_version_has_its_document(api):
    for rate in ("2", "3", "4"):
        rule = {**BASE, "points": {"per_currency_unit": rate}}
        assert put(api, document(rule)).status_code == 201
    page = api.get("/program/versions", params={"limit": 2}).json()
    assert [v["version"] for v in page["items"]] == [4, 3] and page["next_cursor"] == 3
    rest = api.get("/program/versions", params={"limit": 2, "before": 3}).json()
    assert [v["version"] for v in rest["items"]] == [2, 1] and rest["next_cursor"] is None
    two = api.get("/program/versions/2").json()
    assert two["document"]["earn_rules"][0]["points"]["per_currency_unit"] == "2"
    missing = api.get("/program/versions/99")
    assert missing.status_code == 404
    assert missing.json()["code"] == "program_version_not_found"


def test_only_admins_publish_and_integrations_cannot_simulate(api):
    assert put(api, document(BASE), role="analyst").status_code == 403
    assert put(api, document(BASE), role="integration").status_code == 403
    ask = {"document": document(BASE), "events": []}
    assert api.post("/program/simulate", json=ask, role="integration").status_code == 403
    assert api.post("/program/simulate", json=ask, role="analyst").status_code == 200
    assert api.get("/program/versions", role="integration").status_code == 200


def test_simulate_given_events_reports_each_rule_for_draft_beside_current(api, clock):
    assert put(api, document(BASE, FIRST)).status_code == 201
    ann = api.post("/members", json={
        "identities": [{"type": "email", "value": "ann@example.com"}],
        "profile": {"name": "Ann", "birthdate": "1990-03-15"}}).json()
    bob = {"identity": {"type": "email", "value": "bob@example.com"}}
    cy = {"identity": {"type": "email", "value": "cy@example.com"}}
    at = clock.now() - timedelta(hours=3)
    events = [purchase("e1", {"id": ann["id"]}, 12_00, at),
              purchase("e2", bob, 60_00, at + timedelta(minutes=1)),
              review("e3", cy, at + timedelta(minutes=2))]
    response = api.post("/program/simulate", role="analyst", json={
        "document": as_yaml(document(DOUBLE, BIG, BIRTHDAY)), "events": events})
    assert response.status_code == 200, response.text
    report = response.json()
    rules = {r["rule_id"]: (r["change"], r["current"] and r["current"]["points_issued"],
                            r["draft"] and r["draft"]["points_issued"]) for r in report["rules"]}
    assert rules == {"base": ("kept", 72, 144), "big": ("added", None, 100),
                     "birthday": ("added", None, 30), "first": ("removed", 100, None)}
    assert [r["rule_id"] for r in report["rules"]] == ["base", "big", "birthday", "first"]
    draft, current = report["draft"], report["current"]
    assert (current["version"], draft["version"]) == (2, None)
    assert (current["net_points"], draft["net_points"]) == (172, 274)
    assert (current["cost_minor"], draft["cost_minor"]) == (86, 137)  # half a cent a point
    assert (report["net_points_change"], report["cost_minor_change"]) == (102, 51)
    assert draft["members_seen"] == 3 and draft["members_earning_nothing"] == 1
    assert draft["members_earning_nothing_sample"] == ["email:cy@example.com"]
    assert [(a["points"], a["rule_id"]) for a in draft["largest_awards"][:2]] == [
        (120, "base"), (100, "big")]
    by_rule = {r["rule_id"]: r for r in draft["rules"]}
    assert by_rule["birthday"]["members_affected"] == 1
    # Nothing was written: Bob and Cy were not enrolled, Ann earned nothing.
    assert [m["id"] for m in api.get("/members").json()["items"]] == [ann["id"]]
    assert api.get(f"/members/{ann['id']}/balance").json()["available"] == 0


def test_simulate_refuses_an_invalid_draft_and_mixed_sources(api):
    bad = api.post("/program/simulate", json={"document": {"name": "X", "earn_rules": [
        {"id": "x", "name": "X", "on": "purchase", "points": {"fixed": 0}}]}})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_program_document"
    assert [p["path"] for p in bad.json()["problems"]] == ["earn_rules[0].points.fixed"]
    both = api.post("/program/simulate", json={"document": document(BASE), "events": [],
                                               "from": "2026-01-01"})
    assert both.status_code == 422
    backwards = api.post("/program/simulate", json={"document": document(BASE),
                                                    "from": "2026-03-01", "to": "2026-02-01"})
    assert backwards.status_code == 422
    assert backwards.json()["code"] == "invalid_simulation_range"
    too_long = api.post("/program/simulate", json={"document": document(BASE),
                                                   "from": "2024-01-01", "to": "2026-01-01"})
    assert too_long.status_code == 422 and "366" in too_long.json()["detail"]


# --- recorded history (needs ingest) ---------------------------------------------------------


def _record(api, clock):
    """Ann (born in March) bought in February and again today."""
    assert put(api, document(BASE, FIRST)).status_code == 201
    ann = api.post("/members", json={
        "identities": [{"type": "email", "value": "ann@example.com"}],
        "profile": {"name": "Ann", "birthdate": "1990-03-15"}}).json()
    for event in (purchase("feb", {"id": ann["id"]}, 10_00, clock.now() - timedelta(days=20)),
                  purchase("mar", {"id": ann["id"]}, 20_00, clock.now() - timedelta(hours=1))):
        sent = api.post("/events", json=event)
        assert sent.status_code == 201, sent.text
    return ann


def test_simulate_recorded_events_knows_members_and_their_earlier_events(api, clock):
    ann = _record(api, clock)
    ledger = api.get(f"/members/{ann['id']}/ledger").json()["items"]
    response = api.post("/program/simulate", json={
        "document": document(DOUBLE, FIRST, BIRTHDAY), "from": "2026-03-01", "to": "2026-03-03"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["events"]["kind"] == "recorded"
    assert report["events"]["start"].startswith("2026-03-01T00:00:00")
    assert report["draft"]["events_read"] == 1
    points = {r["rule_id"]: (r["current"] and r["current"]["points_issued"],
                             r["draft"] and r["draft"]["points_issued"])
              for r in report["rules"]}
    # February's purchase came before the range: today's is not Ann's first.
    assert points == {"base": (20, 40), "first": (0, 0), "birthday": (None, 30)}
    assert api.get(f"/members/{ann['id']}/ledger").json()["items"] == ledger

    default = api.post("/program/simulate", json={"document": document(DOUBLE, FIRST)}).json()
    assert default["draft"]["events_read"] == 2  # the last 30 days, today included
    assert {r["rule_id"]: r["draft"]["points_issued"] for r in default["rules"]} == {
        "base": 60, "first": 50}


def test_simulate_says_when_a_range_holds_too_many_events(api, clock, monkeypatch):
    from patron.flows import replay

    _record(api, clock)
    monkeypatch.setattr(replay, "MAX_API_EVENTS", 1)
    response = api.post("/program/simulate", json={"document": document(BASE),
                                                   "from": "2026-02-01", "to": "2026-03-03"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "simulation_too_large" and body["events"] == 2
    assert "patron program simulate" in body["detail"]


def test_openapi_describes_the_program_endpoints(api):
    spec = api.client.get("/openapi.json").json()
    put_op = spec["paths"]["/api/v1/program"]["put"]
    assert set(put_op["requestBody"]["content"]) == {"application/json", "application/yaml"}
    simulate = spec["paths"]["/api/v1/program/simulate"]["post"]
    schema = simulate["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/SimulationComparison")
    assert "RuleComparison" in json.dumps(spec["components"]["schemas"])


def test_a_version_stored_before_a_section_existed_equals_the_same_document_now(api):
    """A version published by an older Patron lacks sections added since (here
    ``transfers``); publishing the same document again is still no new version."""
    from sqlalchemy import select, update

    from patron.program.tables import program_versions

    assert put(api, document(BASE, FIRST)).status_code == 201
    with api.db.engine.begin() as conn:
        where = (program_versions.c.program_id == api.program.id,
                 program_versions.c.version == 2)
        stored = conn.execute(select(program_versions.c.document).where(*where)).scalar_one()
        assert "transfers" in stored
        older = {k: v for k, v in stored.items() if k != "transfers"}
        conn.execute(update(program_versions).where(*where).values(document=older,
                                                                     checksum="older"))
    again = put(api, document(BASE, FIRST))
    assert again.status_code == 200, again.text
    assert (again.json()["version"], again.json()["created"]) == (2, False)
