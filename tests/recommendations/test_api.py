"""Recommendations over HTTP, on SQLite and PostgreSQL: a member's lists, unknown and
merged members, the model, and segments of likely buyers for campaigns."""

from __future__ import annotations

from patron.flows import likely_segments
from patron.segments.membership import members_of
from patron.segments.schemas import SegmentCreate
from patron.segments import service as segments
from tests.recommendations.factories import REWARDS, TIERS, Shop


def _shop(api, clock) -> Shop:
    return Shop(api.db, clock, program=api.program)


def test_a_member_s_recommendations(api, clock):
    shop = _shop(api, clock)
    coffee = [shop.coffee_lover() for _ in range(3)]
    shop.tea_lover()
    before = api.get(f"/members/{coffee[0]}/recommendations", role="integration")
    assert before.status_code == 200 and before.json()["basis"] == "none"
    assert api.get("/recommendations").json()["code"] == "recommendations_not_trained"
    shop.train()
    answer = api.get(f"/members/{coffee[0]}/recommendations?limit=2", role="analyst")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["member_id"] == coffee[0] and body["basis"] == "member"
    assert [c["category"] for c in body["categories"]] == ["coffee", "filters"]
    assert body["rewards"][0] == {
        "reward_id": "mug", "name": "Coffee mug", "type": "gift", "cost_points": 300,
        "score": body["rewards"][0]["score"], "source": "model",
        "reason": "members who buy coffee also redeem Coffee mug"}
    assert len(body["products"]) == 2 and body["model"]["algorithm"] == "cosine"
    model = api.get("/recommendations").json()
    assert (model["members"], model["algorithm"]) == (4, "cosine")
    bad = api.get(f"/members/{coffee[0]}/recommendations?limit=0")
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"


def test_unknown_and_merged_members(api, clock):
    shop = _shop(api, clock)
    survivor = shop.coffee_lover()
    other = shop.tea_lover()
    shop.train()
    missing = api.get("/members/987654321/recommendations")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "member_not_found"
    merged = api.post(f"/members/{survivor}/merges", json={"member_id": other,
                                                          "reason": "same person"})
    assert merged.status_code == 201, merged.text
    followed = api.get(f"/members/{other}/recommendations")
    assert followed.status_code == 200
    assert followed.json()["member_id"] == survivor
    assert followed.json() == api.get(f"/members/{survivor}/recommendations").json()


def test_an_empty_program_answers_without_error(api, clock):
    shop = _shop(api, clock)
    member = shop.member()
    shop.train()
    answer = api.get(f"/members/{member}/recommendations")
    assert answer.status_code == 200
    assert answer.json()["rewards"] == answer.json()["categories"] == []
    assert api.get("/recommendations").json()["members"] == 0


def test_a_segment_of_likely_buyers_targets_a_campaign(api, clock):
    shop = _shop(api, clock)
    coffee = [shop.coffee_lover(orders=n + 1) for n in range(3)]
    tea = [shop.tea_lover() for _ in range(2)]
    shop.train()
    made = api.post("/recommendations/segments",
                    json={"key": "likely-filters", "category": "filters", "top": 2})
    assert made.status_code == 200, made.text
    assert made.json()["members"] == 2 and made.json()["kind"] == "category"
    in_segment = shop.db.read(lambda conn: members_of(conn, shop.program.id, "likely-filters"))
    assert set(in_segment) <= set(coffee) and len(in_segment) == 2
    assert not set(in_segment) & set(tea)
    assert api.get("/segments/likely-filters").json()["kind"] == "static"
    shop.publish(REWARDS, tiers=TIERS, campaigns=[{      # a campaign aimed at them
        "id": "filters-week", "name": "Filters week", "starts": "2026-03-01",
        "ends": "2026-03-31", "segment": "likely-filters", "holdout": "0",
        "earn_rules": [{"id": "fx2", "name": "x2", "on": "purchase",
                        "points": {"multiplier": 2}}]}])
    assigned = api.post("/campaigns/filters-week/assign")
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["target"], assigned.json()["treatment"]) == (2, 2)
    again = api.post("/recommendations/segments",
                     json={"key": "likely-filters", "category": "filters", "top": 10})
    assert again.json()["members"] == 3                   # every coffee lover now
    shop.db.transact(lambda conn: segments.create_segment(conn, shop.program, SegmentCreate(
        key="panel", name="Panel", kind="static"), "test", clock.now()))
    taken = api.post("/recommendations/segments", json={"key": "panel", "category": "tea"})
    assert taken.status_code == 409 and taken.json()["code"] == "segment_exists"
    two = api.post("/recommendations/segments",
                   json={"key": "x", "category": "tea", "reward": "mug"})
    assert two.status_code == 422
    refused = api.post("/recommendations/segments", role="analyst",
                       json={"key": "y", "category": "tea"})
    assert refused.status_code == 403
    for _ in range(3):                                     # a tea lover turns to filters
        shop.buy(tea[0], [("FLT-1", "filters")])
    shop.train()
    shop.db.transact(lambda conn: likely_segments.refresh_program(conn, shop.program,
                                                                  clock.now()))
    refilled = shop.db.read(lambda conn: members_of(conn, shop.program.id, "likely-filters"))
    assert tea[0] in refilled
