"""Campaigns over HTTP: staff views, assignment, the member's own view, bad documents."""

from __future__ import annotations

from typing import Any

from tests.campaigns.factories import BASE, COUPONS, SETTINGS, campaign
from tests.factories import member_payload


def document(*campaigns: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": "Shop", "settings": {**SETTINGS, **settings}, "earn_rules": [BASE],
            "coupons": COUPONS, "campaigns": list(campaigns)}


def members(api, count: int) -> list[int]:
    return [api.post("/members", json=member_payload()).json()["id"] for _ in range(count)]


def test_publish_refuses_bad_campaigns_with_their_paths(api):
    response = api.request("PUT", "/program", json=document(
        campaign(holdout="0.6", budget={"points": -5, "money": 100})))
    assert response.status_code == 422
    paths = {p["path"] for p in response.json()["problems"]}
    assert paths == {"campaigns[0].holdout", "campaigns[0].budget.points"}
    outside = api.request("PUT", "/program", json=document(campaign(), ends_on="2026-03-15"))
    assert outside.status_code == 422
    assert [p["path"] for p in outside.json()["problems"]] == ["campaigns[0].ends"]


def test_publish_refuses_a_campaign_on_an_unknown_segment(api):
    response = api.request("PUT", "/program", json=document(campaign(segment="lapsed")))
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert (problem["path"], problem["code"]) == ("campaigns[0].segment", "unknown_segment")
    assert api.get("/program").json()["document"]["campaigns"] == []


def test_assign_list_and_members(api):
    assert api.request("PUT", "/program", json=document(campaign(
        coupons=[{"type": "ten-off"}], budget={"points": 1000}))).status_code == 201
    ids = members(api, 12)
    done = api.post("/campaigns/spring/assign")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["treatment"] + body["holdout"] == 12 and body["coupons"] == body["treatment"]
    assert api.post("/campaigns/spring/assign").json()["treatment"] == 0
    [listed] = api.get("/campaigns").json()
    assert listed["status"] == "running" and listed["holdout"] == "0.2"
    assert listed["assigned"] == {"treatment": body["treatment"], "holdout": body["holdout"]}
    assert listed["spend"]["budget_points"] == 1000
    held = api.get("/campaigns/spring/members", params={"group": "holdout"}).json()["items"]
    assert len(held) == body["holdout"] and {m["group"] for m in held} <= {"holdout"}
    assert {m["member_id"] for m in held} <= set(ids)


def test_a_member_sees_the_campaigns_of_their_treatment_group_only(api):
    api.request("PUT", "/program", json=document(campaign(holdout="0.5")))
    members(api, 20)
    api.post("/campaigns/spring/assign")
    page = api.get("/campaigns/spring/members").json()["items"]
    treated = next(m["member_id"] for m in page if m["group"] == "treatment")
    held = next(m["member_id"] for m in page if m["group"] == "holdout")
    [seen] = api.get(f"/members/{treated}").json()["campaigns"]
    assert (seen["id"], seen["name"]) == ("spring", "Spring double points")
    assert api.get(f"/members/{held}").json()["campaigns"] == []


def test_unknown_campaign_and_outside_its_window(api):
    api.request("PUT", "/program", json=document(campaign(starts="2026-04-01",
                                                           ends="2026-04-30")))
    assert api.get("/campaigns/nope").json()["code"] == "campaign_not_found"
    refused = api.post("/campaigns/spring/assign")
    assert (refused.status_code, refused.json()["code"]) == (409, "campaign_not_running")
    assert api.get("/campaigns/Bad!").status_code == 422
    assert api.get("/campaigns/spring/members", params={"group": "both"}).status_code == 422
