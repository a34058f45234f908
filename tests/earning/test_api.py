"""Earning and returns through the HTTP API: explanations in the ledger, problems for bad returns."""

from __future__ import annotations

from patron.programs.service import get_program
from patron.programs.versions import publish
from patron.rules.document import ProgramDocument
from tests.earning.test_ingest import BASE, FIRST
from tests.factories import member_payload, purchase


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
