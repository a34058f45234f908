"""The tier endpoints over HTTP."""

from __future__ import annotations

from datetime import timedelta

from patron.program.service import get_program
from patron.program.versions import publish
from patron.program.document import ProgramDocument
from tests.flows.test_ingest import BASE
from tests.factories import member_payload, purchase
from tests.tiers.test_tiers import LADDER


def test_tier_endpoints(api, clock):
    member = api.post("/members", json=member_payload()).json()
    missing = api.get(f"/members/{member['id']}/tier")
    assert missing.status_code == 404 and missing.json()["code"] == "tiers_not_configured"
    document = ProgramDocument.model_validate({
        "name": "Shop", "settings": {"pending_days": 0},
        "tiers": {"metric": "qualifying_spend", "levels": LADDER}, "earn_rules": [BASE]})
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), document,
                                         actor="test", now=clock.now()))
    api.post("/events", json=purchase({"id": member["id"]}, 150_00, clock.now()))
    tier = api.get(f"/members/{member['id']}/tier", role="integration").json()
    assert tier["tier"]["id"] == "silver" and tier["next_tier"]["remaining"] == 350_00
    body = {"tier": "gold", "until": (clock.now() + timedelta(days=30)).isoformat(),
            "reason": "complaint"}
    assert api.request("PUT", f"/members/{member['id']}/tier", json=body,
                       role="integration").status_code == 403
    first = api.request("PUT", f"/members/{member['id']}/tier", json=body)
    again = api.request("PUT", f"/members/{member['id']}/tier", json=body)
    assert first.status_code == again.status_code == 200
    assert again.json()["source"] == "manual"
    assert [h["kind"] for h in again.json()["history"]] == ["manual", "upgrade"]
    unknown = api.request("PUT", f"/members/{member['id']}/tier", json={**body, "tier": "x"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_tier"
    past = api.request("PUT", f"/members/{member['id']}/tier",
                       json={**body, "until": clock.now().isoformat()})
    assert past.status_code == 422
    assert api.get("/members/999999999/tier").status_code == 404
