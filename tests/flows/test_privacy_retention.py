"""Retention: the program document's ``privacy`` section, applied by the scheduled sweep."""

from __future__ import annotations

from patron.flows import jobs
from patron.flows.privacy import retention
from tests.flows.privacy_shop import SETTINGS, enrol, publish


def put(api, privacy: dict, **settings):
    return api.request("PUT", "/program", json={
        "name": "Shop", "settings": dict(SETTINGS, **settings), "privacy": privacy})


def test_retention_settings_are_checked_with_problems_at_their_path(api):
    cases = [
        ({"erase_closed_after_days": 0}, {}, ["privacy.erase_closed_after_days"]),
        ({"keep_event_data_days": "a week"}, {}, ["privacy.keep_event_data_days"]),
        ({"keep_events": 30}, {}, ["privacy.keep_events"]),
        ({"erase_closed_after_days": 14}, {"pending_days": 14},
         ["privacy.erase_closed_after_days"]),
    ]
    for privacy, settings, paths in cases:
        response = put(api, privacy, **settings)
        assert response.status_code == 422, privacy
        assert response.json()["code"] == "invalid_program_document"
        assert [p["path"] for p in response.json()["problems"]] == paths, privacy
    assert "pending_days (14)" in put(api, {"erase_closed_after_days": 14},
                                      pending_days=14).json()["problems"][0]["message"]
    assert api.get("/program").json()["version"] == 1
    fine = put(api, {"erase_closed_after_days": 15, "keep_event_data_days": 90},
               pending_days=14)
    assert fine.status_code in (200, 201), fine.text
    assert api.get("/program").json()["document"]["privacy"] == {
        "erase_closed_after_days": 15, "keep_event_data_days": 90}


def close(api, member_id: int) -> None:
    api.post(f"/members/{member_id}/status", json={"status": "closed", "reason": "moved away"}
             ).raise_for_status()


def test_the_sweep_erases_members_closed_longer_than_the_program_keeps_them(api):
    publish(api, privacy={"erase_closed_after_days": 30})
    clock = api.clock
    ann = enrol(api, {"identities": [{"type": "email", "value": "ann@example.com"}],
                      "profile": {"family_name": "Leeworthy"}})
    bob = enrol(api, {"identities": [{"type": "email", "value": "bob@example.com"}]})
    carla = enrol(api, {"identities": [{"type": "email", "value": "carla@example.com"}]})
    api.post(f"/members/{ann}/adjustments", json={"points": 50, "reason": "welcome",
                                                  "idempotency_key": "w-ann"})
    close(api, ann)
    clock.advance(days=20)
    close(api, bob)
    clock.advance(days=9, hours=23)
    assert jobs.run_all(api.db, clock.now())["privacy"] == {"members_erased": 0,
                                                            "events_pruned": 0}
    liability = api.get(f"/members/{ann}/balance").json()
    clock.advance(hours=1)  # Ann closed 30 days ago now
    assert jobs.run_all(api.db, clock.now())["privacy"] == {"members_erased": 1,
                                                            "events_pruned": 0}
    statuses = {m: api.get(f"/members/{m}").json()["status"] for m in (ann, bob, carla)}
    assert statuses == {ann: "erased", bob: "closed", carla: "active"}
    assert api.get(f"/members/{ann}/balance").json() == liability
    assert api.get("/members", params={"identity": "email:ann@example.com"}
                   ).json()["items"] == []
    erased = api.get(f"/members/{ann}").json()
    assert erased["profile"]["family_name"] is None
    assert erased["standing"]["changed_by"] == "job:retention"
    assert "erase_closed_after_days" in erased["standing"]["reason"]
    [entry] = [e for e in api.get("/audit", params={"member_id": ann}).json()["items"]
               if e["actor"] == "job:retention"]
    assert (entry["operation"], entry["outcome"]) == ("retention: erase closed member",
                                                      "succeeded")
    assert retention.run(api.db, clock.now())["members_erased"] == 0
    clock.advance(days=19, hours=23)  # Bob, closed on day 20, is erased from day 50
    assert retention.run(api.db, clock.now())["members_erased"] == 0
    clock.advance(hours=1)
    assert retention.run(api.db, clock.now())["members_erased"] == 1
    assert api.get(f"/members/{bob}").json()["status"] == "erased"


def review(api, member_id: int, n: int) -> dict:
    event = {"id": f"review-{member_id}-{n}", "type": "review", "member": {"id": member_id},
             "occurred_at": api.clock.now().isoformat(),
             "data": {"product_sku": "BEANS-1", "rating": 4, "comment": f"note {n}",
                      "device": {"ip": "203.0.113.9"}}}
    api.post("/events", json=event).raise_for_status()
    return event


def event_data(api, member_id: int) -> dict[str, dict]:
    return {e["id"]: e["data"] for e in
            api.get(f"/members/{member_id}/export").json()["sections"]["events"]}


def test_event_payloads_keep_only_what_rules_read_after_the_programs_days(api):
    publish(api, privacy={"keep_event_data_days": 7},
            event_types=[{"name": "review", "fields": {"comment": "string"}}])
    clock = api.clock
    member = enrol(api, {"identities": [{"type": "email", "value": "dee@example.com"}]})
    first = review(api, member, 1)
    clock.advance(days=5)
    review(api, member, 2)
    clock.advance(days=2)
    assert retention.run(api.db, clock.now()) == {"members_erased": 0, "events_pruned": 1}
    data = list(event_data(api, member).values())
    # a field the program declares stays (a rule may read it); the rest goes
    assert data == [{"product_sku": "BEANS-1", "rating": 4, "comment": "note 1"},
                    {"product_sku": "BEANS-1", "rating": 4, "comment": "note 2",
                     "device": {"ip": "203.0.113.9"}}]
    assert retention.run(api.db, clock.now())["events_pruned"] == 0
    resent = api.post("/events", json=first)  # the data it was first sent with is gone
    assert (resent.status_code, resent.json()["code"]) == (409, "idempotency_key_reused")
    review(api, member, 3)
    clock.advance(days=5)
    assert jobs.run_all(api.db, clock.now())["privacy"]["events_pruned"] == 1
    assert [("device" in d) for d in event_data(api, member).values()] == [False, False, True]
