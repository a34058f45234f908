"""A shop with one member, Ann, who left personal data everywhere Patron keeps some."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

SETTINGS = {"currency": "USD", "timezone": "UTC", "pending_days": 0, "expiry": {"days": None}}
BASE = {"id": "base", "name": "1 point per $1", "on": "purchase",
        "points": {"per_currency_unit": "1"}}
REVIEWS = {"id": "reviews", "name": "Reviews", "on": "review", "points": {"fixed": 5}}
ANN = {
    "identities": [{"type": "email", "value": "Ann.Lee@Example.com", "channel": "web"},
                   {"type": "phone", "value": "(202) 555-0143", "channel": "pos"}],
    "profile": {"given_name": "Ann", "family_name": "Leeworthy", "birthdate": "1990-04-02",
                "gender": "female", "join_channel": "web", "region": "Inner West",
                "attributes": {"favourite": "flat white with oat milk"},
                "address": {"line1": "12 Hightower St", "city": "Surry Hills",
                            "postcode": "2010", "state": "NSW", "country": "au"}},
    "consents": [{"channel": "email", "granted": True, "notice": "v1"},
                 {"channel": "sms", "granted": True}]}
SECRETS = ("ann.lee@example.com", "+12025550143", "Leeworthy", "1990-04-02",
           "Hightower", "Surry Hills", "flat white", "leave it by the red door",
           "203.0.113.9", "Happy birthday Bob", "asked us twice by phone", "Inner West",
           "owner's sister", "expecting-twins")
"""Everything personal Ann left behind; none of it may survive her erasure."""


TIERS = {"metric": "qualifying_spend", "window": {"type": "calendar_year"},
         "levels": [{"id": "member", "name": "Member", "threshold": 0},
                    {"id": "gold", "name": "Gold", "threshold": 1_000_00}]}


def publish(api, **sections: Any) -> None:
    api.request("PUT", "/program", json={
        "name": "Shop", "settings": SETTINGS, "earn_rules": [BASE, REVIEWS], "tiers": TIERS,
        "transfers": {"enabled": True}, **sections}).raise_for_status()


def enrol(api, payload: dict[str, Any]) -> int:
    response = api.post("/members", json=payload)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def buy(api, member_id: int, total: int, n: int) -> None:
    api.post("/events", json={
        "id": f"buy-{member_id}-{n}", "type": "purchase", "member": {"id": member_id},
        "occurred_at": (api.clock.now() - timedelta(hours=1)).isoformat(), "channel": "web",
        "data": {"order_id": f"O-{member_id}-{n}", "currency": "USD", "total": total,
                 "lines": [{"sku": "BEANS-1", "category": "beans", "quantity": 1,
                            "amount": total}]}}).raise_for_status()


def ann_everywhere(api) -> dict[str, int]:
    """Ann and Bob: Ann buys, reviews (with a note and her IP), gives Bob points with a
    message, is blocked with a reason, tagged, given a tier by hand with a reason: every
    place her data lands. Returns their ids."""
    publish(api)
    api.clock.advance(days=1)  # events after the publication earn by its rules
    ann = enrol(api, ANN)
    bob = enrol(api, {"identities": [{"type": "email", "value": "bob@example.com"}],
                      "profile": {"given_name": "Bob"}})
    buy(api, ann, 120_00, 1)
    buy(api, bob, 30_00, 1)
    api.post("/events", json={
        "id": f"review-{ann}", "type": "review", "member": {"id": ann},
        "occurred_at": (api.clock.now() - timedelta(minutes=30)).isoformat(),
        "data": {"product_sku": "BEANS-1", "rating": 5,
                 "comment": "leave it by the red door", "ip": "203.0.113.9"}}
    ).raise_for_status()
    api.post(f"/members/{ann}/spends", json={"points": 20, "reason": "Free latte",
                                             "idempotency_key": "spend-1"}).raise_for_status()
    api.post(f"/members/{ann}/transfers", json={
        "to_member_id": bob, "points": 10, "idempotency_key": "gift-1",
        "message": "Happy birthday Bob"}).raise_for_status()
    api.post(f"/members/{ann}/status", json={"status": "blocked",
                                             "reason": "asked us twice by phone"}
             ).raise_for_status()
    api.post(f"/members/{ann}/status", json={"status": "active"}).raise_for_status()
    api.request("PUT", f"/members/{ann}/tags/expecting-twins").raise_for_status()
    api.request("PUT", f"/members/{ann}/tier", json={
        "tier": "gold", "until": (api.clock.now() + timedelta(days=30)).isoformat(),
        "reason": "owner's sister"}).raise_for_status()
    return {"ann": ann, "bob": bob}
