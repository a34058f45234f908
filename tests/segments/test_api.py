"""Tags, features and segments over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from patron.segments import jobs
from tests.factories import member_payload, purchase
from tests.flows.test_ingest import BASE


def _setup(api, clock, orders):
    """Members with 0, 1, 2 … orders each; features refreshed."""
    document = ProgramDocument.model_validate({
        "name": "Shop", "settings": {"pending_days": 0}, "earn_rules": [BASE]})
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), document,
                                         actor="test", now=clock.now()))
    ids = []
    for count in orders:
        member = api.post("/members", json=member_payload()).json()
        ids.append(member["id"])
        for i in range(count):
            api.post("/events", json=purchase({"id": member["id"]}, 10_00,
                                              clock.now() - timedelta(days=i + 1)))
    _refresh(api, clock)
    return ids


def _refresh(api, clock):
    api.db.transact(lambda conn: jobs.refresh_program(
        conn, get_program(conn, api.program.id), clock.now()))


def test_manual_tags_are_idempotent_and_rule_tags_protected(api, clock):
    [ann] = _setup(api, clock, [0])
    first = api.request("PUT", f"/members/{ann}/tags/vip", role="integration")
    again = api.request("PUT", f"/members/{ann}/tags/vip", role="integration")
    assert first.status_code == again.status_code == 200
    assert [(t["tag"], t["source"]) for t in again.json()["tags"]] == [("vip", "manual")]
    assert api.get(f"/members/{ann}/tags").json()["tags"][0]["added_by"]
    bad = api.request("PUT", f"/members/{ann}/tags/Not%20A%20Tag")
    assert bad.status_code == 422
    assert api.request("DELETE", f"/members/{ann}/tags/vip").status_code == 204
    gone = api.request("DELETE", f"/members/{ann}/tags/vip")
    assert gone.status_code == 404 and gone.json()["code"] == "tag_not_found"
    assert api.get(f"/members/{ann}/tags").json()["tags"] == []


def test_features_answer_404_until_computed(api, clock):
    member = api.post("/members", json=member_payload()).json()
    missing = api.get(f"/members/{member['id']}/features")
    assert missing.status_code == 404 and missing.json()["code"] == "features_not_computed"
    _refresh(api, clock)
    found = api.get(f"/members/{member['id']}/features")
    assert found.status_code == 200 and found.json()["frequency"] == 0


def test_dynamic_segment_records_entries_leavers_and_counts(api, clock):
    ids = _setup(api, clock, [0, 1, 2, 3])
    body = {"key": "regulars", "name": "Regulars", "condition": "member.features.frequency >= 2"}
    preview = api.post("/segments/preview", json={"condition": body["condition"]}).json()
    assert preview["members"] == 2 and preview["sample"] == ids[2:]
    assert api.get("/segments/regulars").status_code == 404  # preview saved nothing
    created = api.post("/segments", json=body)  # filled at once, as the preview said
    assert created.status_code == 200 and created.json()["members"] == 2
    assert api.post("/segments", json=body).status_code == 200
    clash = api.post("/segments", json={**body, "condition": "member.features.frequency >= 3"})
    assert clash.status_code == 409 and clash.json()["code"] == "segment_exists"
    again = api.post("/segments/regulars/refresh").json()
    assert (again["members"], again["entered"], again["left"]) == (2, 0, 0)
    clock.advance(days=1)
    api.post("/events", json=purchase({"id": ids[1]}, 10_00, clock.now()))
    changed = api.patch("/segments/regulars",
                        json={"condition": "member.features.frequency == 2"})
    assert changed.status_code == 200 and changed.json()["members"] == 1  # ids[3] left
    _refresh(api, clock)  # ids[1] now has 2 orders, ids[3] has 3
    members = api.get("/segments/regulars/members").json()["items"]
    assert [m["member_id"] for m in members] == [ids[1], ids[2]]
    entered = [datetime.fromisoformat(m["entered_at"]) for m in members]
    assert entered == [clock.now(), clock.now() - timedelta(days=1)]  # ids[2] stayed in
    history = api.get("/segments/regulars/history").json()["items"]
    assert [(h["members"], h["entered"], h["left"]) for h in history] == [
        (2, 1, 0), (1, 0, 1), (2, 0, 0), (2, 2, 0)]
    mine = api.get(f"/members/{ids[1]}/segments").json()["items"]
    assert [m["key"] for m in mine] == ["regulars"]
    assert api.get(f"/members/{ids[3]}/segments").json()["items"] == []
    assert api.get("/segments").json()["items"][0]["members"] == 2


def test_static_segment_upload_replaces_its_members(api, clock):
    ids = _setup(api, clock, [0, 0, 0])
    assert api.post("/segments", json={"key": "panel", "name": "Panel",
                                       "kind": "static"}).status_code == 200
    first = api.request("PUT", "/segments/panel/members", json={"member_ids": ids[:2]}).json()
    assert (first["members"], first["entered"]) == (2, 2)
    email = api.get(f"/members/{ids[2]}").json()["identities"][0]["value"]
    second = api.request("PUT", "/segments/panel/members",
                         json={"member_ids": [ids[1]], "identities": [f"email:{email}"]}).json()
    assert (second["members"], second["entered"], second["left"]) == (2, 1, 1)
    members = [m["member_id"] for m in api.get("/segments/panel/members").json()["items"]]
    assert members == [ids[1], ids[2]]
    unknown = api.request("PUT", "/segments/panel/members", json={"member_ids": [999999999]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "member_ids"
    refused = api.post("/segments/panel/refresh")
    assert refused.status_code == 409 and refused.json()["code"] == "wrong_segment_kind"


def test_bad_conditions_are_422_with_the_field(api, clock):
    _setup(api, clock, [0])
    broken = api.post("/segments", json={"key": "x", "name": "X",
                                         "condition": "member.features.frequency >"})
    assert broken.status_code == 422
    assert broken.json()["code"] == "invalid_condition" and broken.json()["field"] == "condition"
    assert "1:" in broken.json()["detail"]
    unknown = api.post("/segments/preview", json={"condition": "member.features.frequncy > 1"})
    assert unknown.status_code == 422 and "member.features.frequency" in unknown.json()["detail"]
    typed = api.post("/segments/preview", json={"condition": 'member.features.frequency > "a"'})
    assert typed.status_code == 422 and typed.json()["field"] == "condition"
    patch = api.patch("/segments/nope", json={"name": "Y"})
    assert patch.status_code == 404 and patch.json()["code"] == "segment_not_found"
    assert api.get("/segments/x").status_code == 404
