"""The member 360° view over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, update

from patron.members.tables import members, merges
from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from tests.factories import member_payload, purchase

DOCUMENT = {
    "name": "Whole view",
    "settings": {"currency": "USD", "timezone": "UTC", "pending_days": 0,
                 "expiry": {"days": 365}},
    "earn_rules": [{"id": "base", "name": "1 point per $1", "on": "purchase",
                    "points": {"per_currency_unit": "1"}}],
    "tiers": {"metric": "qualifying_spend", "levels": [{"id": "blue", "name": "Blue", "threshold": 0},
                                            {"id": "gold", "name": "Gold",
                                             "threshold": 100000}]},
    "rewards": [{"id": "sticker", "name": "Sticker", "type": "gift", "cost_points": 10}],
}


@pytest.fixture
def shop(api):
    document = ProgramDocument.model_validate(DOCUMENT)
    api.db.transact(lambda conn: publish(conn, get_program(conn, api.program.id), document,
                                         actor="test", now=api.clock.now()))
    api.clock.advance(hours=1)
    return api


def _buy(api, member_id: int, total: int, channel: str) -> None:
    event = purchase({"id": member_id}, total, api.clock.now() - timedelta(minutes=1))
    event["channel"] = channel
    response = api.post("/events", json=event)
    assert response.status_code in (200, 201), response.text


def test_the_360_view_shows_the_member_whole(shop):
    member = shop.post("/members", json=member_payload(
        identities=[{"type": "email", "value": "whole@example.com", "channel": "web"},
                    {"type": "phone", "value": "+12025550143", "channel": "pos"},
                    {"type": "card", "value": "CARD1234", "channel": "pos"}],
        profile={"given_name": "Wanda", "family_name": "Hole", "gender": "female",
                 "address": {"city": "Hobart", "country": "au"}})).json()
    member_id = member["id"]
    _buy(shop, member_id, 4000, "web")
    _buy(shop, member_id, 2500, "pos")
    _buy(shop, member_id, 1500, "pos")
    redeemed = shop.post(f"/members/{member_id}/redemptions",
                         json={"reward_id": "sticker", "idempotency_key": "r-1"})
    assert redeemed.status_code == 201, redeemed.text
    shop.post(f"/members/{member_id}/status", json={"status": "blocked", "reason": "check"})
    shop.post(f"/members/{member_id}/status", json={"status": "active", "reason": "cleared"})

    response = shop.get(f"/members/{member_id}/360")
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["member"]["profile"]["name"] == "Wanda Hole"
    assert view["member"]["profile"]["address"]["country"] == "AU"
    assert view["merged_into"] is None
    grouped = {g["channel"]: sorted(i["type"] for i in g["identities"])
               for g in view["identities_by_channel"]}
    assert grouped == {"web": ["email"], "pos": ["card", "phone"]}
    assert view["balance"]["available"] == 80 - 10
    assert [e["points"] for e in view["balance"]["expiring"]] and sum(
        e["points"] for e in view["balance"]["expiring"]) == 70
    assert view["tier"]["tier"]["id"] == "blue"
    assert view["tier"]["next_tier"]["id"] == "gold"
    assert view["tier"]["next_tier"]["remaining"] == 100000 - 8000
    lines = view["recent_ledger"]
    assert [line["points"] for line in lines] == [-10, 15, 25, 40]
    assert lines[-1]["source"]["event_type"] == "purchase" and lines[-1]["reason"]
    assert {(o["channel"], o["orders"], o["spend"]) for o in view["orders_by_channel"]} == {
        ("pos", 2, 4000), ("web", 1, 4000)}
    assert [r["reward_id"] for r in view["redemptions"]] == ["sticker"]
    assert view["household"] is None
    assert view["referrals"]["referred_by"] is None
    assert view["merges"] == []
    assert [(s["previous_status"], s["status"], s["reason"])
            for s in view["status_history"]] == [("active", "blocked", "check"),
                                                  ("blocked", "active", "cleared")]


def test_a_merged_record_shows_its_survivor_and_both_sides_show_the_merge(shop):
    survivor = shop.post("/members", json=member_payload()).json()["id"]
    merged = shop.post("/members", json=member_payload()).json()["id"]
    now = shop.clock.now()

    def merge(conn):
        conn.execute(insert(merges).values(
            program_id=shop.program.id, survivor_id=survivor, merged_id=merged, state="merged",
            reason="same person", actor="test", source="manual", moved={}, created_at=now))
        conn.execute(update(members).where(members.c.id == merged).values(
            status="merged", merged_into=survivor))
    shop.db.transact(merge)

    old = shop.get(f"/members/{merged}/360").json()
    assert old["merged_into"] == survivor
    assert old["member"]["status"] == "merged"
    assert old["member"]["standing"]["merged_into"] == survivor
    assert [(m["role"], m["survivor_id"]) for m in old["merges"]] == [("merged", survivor)]
    new = shop.get(f"/members/{survivor}/360").json()
    assert [(m["role"], m["merged_id"], m["reason"]) for m in new["merges"]] == [
        ("survivor", merged, "same person")]
    # Other member-id paths of the old id act on the survivor.
    assert shop.get(f"/members/{merged}/balance").json() == shop.get(
        f"/members/{survivor}/balance").json()
    refused = shop.post(f"/members/{merged}/status", json={"status": "active"})
    assert (refused.status_code, refused.json()["code"]) == (409, "status_change_not_allowed")


def test_the_360_view_of_an_unknown_member_is_404(shop):
    response = shop.get("/members/987654321/360")
    assert (response.status_code, response.json()["code"]) == (404, "member_not_found")


def test_a_program_without_tiers_shows_no_tier(api):
    member = api.post("/members", json=member_payload()).json()["id"]
    view = api.get(f"/members/{member}/360")
    assert view.status_code == 200, view.text
    assert view.json()["tier"] is None
