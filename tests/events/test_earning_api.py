"""Earning and returns through the HTTP API: explanations in the ledger, problems for bad returns."""

from __future__ import annotations

from patron.program.service import get_program
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from tests.flows.test_ingest import BASE, FIRST
from tests.factories import member_payload, purchase
from tests.program.documents import document


def test_ledger_shows_each_rule_with_its_explanation_and_returns_are_explained(api, clock):
    document = ProgramDocument.model_validate({
        "name": "Shop", "settings": {"pending_days": 0, "expiry": {"days": None}},
        "earn_rules": [BASE, FIRST]})
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), document,
                                         actor="test", now=clock.now()))
    member = api.post("/members", json=member_payload()).json()
    sent = api.post("/events", json=purchase({"id": member["id"]}, 12_00, clock.now(),
                                             order_id="API-1"))
    assert sent.status_code == 201, sent.text
    assert {a["rule_id"]: a["points"] for a in sent.json()["awards"]} == {"base": 12,
                                                                          "first": 50}
    back = api.post("/events", json={"id": "ret-1", "type": "return",
                                     "member": {"id": member["id"]},
                                     "occurred_at": clock.now().isoformat(),
                                     "data": {"order_id": "API-1"}})
    assert back.status_code == 201, back.text
    assert back.json()["points"] == -62
    ledger = api.get(f"/members/{member['id']}/ledger").json()["items"]
    rows = [(e["kind"], e["points"], e["reason"], e["details"].get("rule")) for e in ledger]
    assert ("earn", 50, "First order bonus: +50", "first") in rows
    assert ("earn", 12, "1 point per $1: +12", "base") in rows
    assert ("reverse", -12, "1 point per $1: returned 1 × SKU-1: −12", "base") in rows
    assert ("reverse", -50, "First order bonus: order returned: −50", "first") in rows
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 0
    again = api.post("/events", json={"id": "ret-2", "type": "return",
                                      "member": {"id": member["id"]},
                                      "occurred_at": clock.now().isoformat(),
                                      "data": {"order_id": "API-1"}})
    assert again.status_code == 409 and again.json()["code"] == "line_already_returned"
    unknown = api.post("/events", json={"id": "ret-3", "type": "return",
                                        "member": {"id": member["id"]},
                                        "occurred_at": clock.now().isoformat(),
                                        "data": {"order_id": "NOPE"}})
    assert unknown.status_code == 404 and unknown.json()["code"] == "return_of_unknown_order"
    bad = api.post("/events", json={"id": "ret-4", "type": "return",
                                    "member": {"id": member["id"]},
                                    "occurred_at": clock.now().isoformat(), "data": {}})
    assert bad.status_code == 422 and "order_id" in bad.json()["detail"]


def check_in(event_id: str, member_id: int, at) -> dict:
    return {"id": event_id, "type": "check_in", "member": {"id": member_id},
            "occurred_at": at.isoformat(), "data": {}}


def test_a_member_without_the_attribute_a_rule_reads_simply_does_not_earn(api, clock):
    vip = {"id": "vip", "name": "VIP check-in", "on": "check_in", "points": {"fixed": 10},
           "when": "member.profile.attributes.vip == true"}
    published = api.request("PUT", "/program", json=document(vip))
    assert published.status_code == 201, published.text
    assert published.json()["warnings"] == [{
        "path": "earn_rules[0].when", "severity": "warning",
        "message": "member.profile.attributes.vip is not set for every member, and the "
                   "condition is false for members without it; guard it with "
                   "has(member.profile.attributes.vip)"}]
    plain = api.post("/members", json=member_payload()).json()
    starred = api.post("/members", json=member_payload(
        profile={"name": "Star", "attributes": {"vip": True}})).json()
    missing = api.post("/events", json=check_in("ci-1", plain["id"], clock.now()))
    assert missing.status_code == 201, missing.text
    assert (missing.json()["points"], missing.json()["notes"]) == (0, [])
    assert "__" not in missing.text
    earned = api.post("/events", json=check_in("ci-2", starred["id"], clock.now()))
    assert earned.json()["points"] == 10


def test_publishing_a_comparison_of_mismatched_types_is_refused_with_the_rule_path(api):
    tasting = {"id": "tasting", "name": "Five-star tasting", "on": "tasting",
               "points": {"fixed": 10}, "when": "event.data.rating == 'five'"}
    body = {**document(tasting),
            "event_types": [{"name": "tasting", "fields": {"rating": "int"}}]}
    response = api.request("PUT", "/program", json=body)
    assert response.status_code == 422
    assert response.json()["problems"] == [{
        "path": "earn_rules[0].when", "severity": "error",
        "message": "type mismatch in `event.data.rating == 'five'`: event.data.rating is an "
                   "int, 'five' is a string, so they are never equal"}]
    assert api.get("/program").json()["version"] == 1


def test_an_exclusive_line_bonus_warns_at_publish_and_notes_what_it_stopped(api, clock):
    beans = {"id": "beans", "name": "3x on beans", "on": "purchase", "priority": 10,
             "exclusive": True, "lines": {"categories": ["beans"]},
             "points": {"per_currency_unit": "3"}}
    published = api.request("PUT", "/program", json=document(BASE, beans))
    assert published.status_code == 201, published.text
    assert [(w["path"], w["message"]) for w in published.json()["warnings"]] == [(
        "earn_rules[1].exclusive", "base earning is silenced when this rule applies: it "
        "stops earn_rules[0] ('base') on the lines it awards on; drop exclusive for a bonus "
        "on top, or make it a multiplier")]
    member = api.post("/members", json=member_payload()).json()
    lines = [{"sku": "BNS", "category": "beans", "quantity": 1, "amount": 20_00},
             {"sku": "MUG", "category": "gear", "quantity": 1, "amount": 10_00}]
    sent = api.post("/events", json=purchase({"id": member["id"]}, 30_00, clock.now(),
                                             lines=lines))
    assert sent.status_code == 201, sent.text
    outcome = sent.json()
    assert {a["rule_id"]: a["points"] for a in outcome["awards"]} == {"beans": 60, "base": 10}
    assert outcome["notes"] == [{"rule_id": "base", "code": "stopped_by_exclusive",
                                 "message": "1 point per $1: not combined with '3x on beans' "
                                            "on BNS"}]
