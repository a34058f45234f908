"""A member's badges, challenges and streaks over HTTP, and joining a challenge, on SQLite
and PostgreSQL."""

from __future__ import annotations

import uuid

from patron.engagement.batch import held_out
from tests.engagement.factories import COUPONS, SETTINGS, challenge, streak

MARCH = {"starts": "2026-03-01", "ends": "2026-03-31"}


def publish(api, **sections) -> None:
    body = {"name": "P", "settings": SETTINGS, "coupons": COUPONS, **sections}
    response = api.request("PUT", "/program", json=body)
    assert response.status_code == 201, response.text


def member(api) -> int:
    made = api.post("/members", json={"identities": [
        {"type": "email", "value": f"m-{uuid.uuid4().hex[:12]}@example.com"}]})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def purchase(api, member_id: int, minutes: int) -> dict:
    api.clock.advance(minutes=minutes)
    at = api.clock.now()
    sent = api.post("/events", json={
        "id": f"p-{member_id}-{at.timestamp()}", "type": "purchase",
        "member": {"id": member_id}, "occurred_at": at.isoformat(),
        "data": {"order_id": f"o-{member_id}-{at.timestamp()}", "currency": "USD",
                 "total": 1200}})
    assert sent.status_code in (200, 201), sent.text
    return sent.json()


def test_badges_challenges_and_streaks_of_a_member(api):
    publish(api, badges=[{"id": "first", "name": "First order", "on": ["purchase"],
                          "when": "member.purchase_count >= 1", "reward": {"points": 5}},
                         {"id": "tenth", "name": "Ten orders", "on": ["purchase"],
                          "description": "Your tenth order",
                          "when": "member.purchase_count >= 10"}],
            challenges=[challenge(**MARCH)], streaks=[streak()])
    someone = member(api)
    outcome = purchase(api, someone, 5)
    assert [p["text"] for p in outcome["progress"]] == [
        "Badge earned: First order, +5 Beans", "May visits: 1 of 3 visits (until 31 Mar 2026)",
        "Weekly coffee: 1 week, a streak begins"]
    badges = api.get(f"/members/{someone}/badges").json()
    assert [(b["id"], b["earned"], b["text"]) for b in badges] == [
        ("first", True, "Badge earned: First order"), ("tenth", False, "Your tenth order")]
    assert badges[0]["levels"][0]["reward"] == {"points": 5, "coupon": None,
                                                "text": "+5 Beans"}
    [running] = api.get(f"/members/{someone}/challenges").json()
    assert (running["status"], running["value"], running["target"], running["text"]) == (
        "running", 1, 3, "May visits: 1 of 3 visits (until 31 Mar 2026)")
    [weekly] = api.get(f"/members/{someone}/streaks").json()
    assert (weekly["length"], weekly["this_period_done"], weekly["text"]) == (
        1, True, "Weekly coffee: 1 week in a row; this week counts already")
    view = api.get(f"/members/{someone}/360").json()
    assert [b["id"] for b in view["engagement"]["badges"] if b["earned"]] == ["first"]
    assert view["engagement"]["challenges"][0]["value"] == 1
    assert api.get("/members/999999999/badges").json()["code"] == "member_not_found"


def test_joining_an_opt_in_challenge(api):
    publish(api, challenges=[challenge(**MARCH, opt_in=True)])
    someone = member(api)
    before = purchase(api, someone, 5)
    assert before["progress"] == []
    [offered] = api.get(f"/members/{someone}/challenges").json()
    assert (offered["joined"], offered["text"]) == (
        False, "May visits: 0 of 3 visits (until 31 Mar 2026); join to take part")
    path = f"/members/{someone}/challenges/may-visits/join"
    joined = api.post(path, headers={"Idempotency-Key": "join-1"})
    assert joined.status_code == 200, joined.text
    assert (joined.json()["joined"], joined.json()["joined_at"]) == (
        True, api.clock.now().isoformat().replace("+00:00", "Z"))
    api.clock.advance(minutes=1)
    assert api.post(path, headers={"Idempotency-Key": "join-1"}).json() == joined.json()
    assert api.post(path).json()["joined_at"] == joined.json()["joined_at"]  # first stays
    after = purchase(api, someone, 5)
    assert [p["text"] for p in after["progress"]] == [
        "May visits: 1 of 3 visits (until 31 Mar 2026)"]


def test_joining_is_refused_with_a_reason(api):
    publish(api, challenges=[challenge(**MARCH, opt_in=True, holdout="0.5"),
                             challenge(id="open", name="Open", **MARCH)])
    members = [member(api) for _ in range(8)]
    out = next(m for m in members if held_out(api.program.id, "may-visits", m, 0.5))
    kept = next(m for m in members if not held_out(api.program.id, "may-visits", m, 0.5))
    refused = api.post(f"/members/{out}/challenges/may-visits/join")
    assert (refused.status_code, refused.json()["code"]) == (409, "challenge_not_offered")
    assert [c["id"] for c in api.get(f"/members/{out}/challenges").json()] == ["open"]
    unknown = api.post(f"/members/{kept}/challenges/nope/join")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "challenge_not_found")
    bad = api.post(f"/members/{kept}/challenges/Not%20an%20id/join")
    assert bad.status_code == 422
    everyone = api.post(f"/members/{kept}/challenges/open/join")
    assert (everyone.status_code, everyone.json()["joined"]) == (200, True)
    assert api.post(f"/members/{kept}/challenges/may-visits/join", role="analyst").status_code \
        == 403
    api.clock.advance(days=40)
    closed = api.post(f"/members/{kept}/challenges/may-visits/join")
    assert (closed.status_code, closed.json()["code"]) == (409, "challenge_closed")
    blocked = api.post(f"/members/{kept}/status", json={"status": "blocked",
                                                       "reason": "dispute"})
    assert blocked.status_code == 200, blocked.text
    assert api.post(f"/members/{kept}/challenges/open/join").json()["code"] == "member_blocked"


def test_a_merged_members_badges_answer_for_the_survivor(api):
    publish(api, badges=[{"id": "first", "name": "First order", "on": ["purchase"],
                          "when": "member.purchase_count >= 1"}])
    survivor, merged = member(api), member(api)
    purchase(api, merged, 5)
    made = api.post(f"/members/{survivor}/merges", json={"member_id": merged})
    assert made.status_code == 201, made.text
    assert [b["earned"] for b in api.get(f"/members/{merged}/badges").json()] == [True]
    assert [b["earned"] for b in api.get(f"/members/{survivor}/badges").json()] == [True]


def test_streaks_over_http_say_when_to_come_back(api):
    publish(api, streaks=[streak(grace={"missed": 1, "per": 1},
                                 milestones=[{"periods": 3, "reward": {"points": 30}}])])
    someone = member(api)
    purchase(api, someone, 5)
    api.clock.advance(weeks=1)
    [weekly] = api.get(f"/members/{someone}/streaks").json()
    assert (weekly["length"], weekly["this_period_done"], weekly["grace_left"]) == (1, False, 1)
    # counted the week of Monday 2 March; one missed week forgiven: by Sunday 22 March
    assert weekly["keep_by"] == "2026-03-22"
    assert weekly["text"] == "Weekly coffee: 1 week in a row; keep it going by Sunday 22 Mar"
    assert weekly["next_milestone"] == {"periods": 3, "remaining": 2,
                                        "reward": {"points": 30, "coupon": None,
                                                   "text": "+30 Beans"}}
