"""Gifts with purchase on SQLite and PostgreSQL: an earn rule gives a catalog gift from
its stock, a return cancels it, staff send it, and the member's gifts are listed."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from patron.flows import redemption
from patron.flows.reward_kinds import kind_of
from patron.ledger.service import adjust_points
from patron.rewards import domain, gifts
from patron.rewards.repository import stock_row
from patron.rewards.tables import gift_grants
from tests.flows.test_ingest import BASE, Shop, rule
from tests.program.documents import as_yaml

MUG = {"id": "mug", "name": "Coffee mug", "type": "gift", "cost_points": 300}
MUG_50 = rule("mug-50", "purchase", {"gift": "mug"}, min_spend=5000,
              name="Free mug on orders of $50 or more")
ONCE = {"per_member": {"lifetime": {"awards": 1}}}


def gift_shop(database, clock, *rules: dict[str, Any], stock: int | None = 5) -> Shop:
    shop = Shop(database, clock, [])
    mug = MUG if stock is None else {**MUG, "stock": stock}
    shop.program = shop.publish_full(shop.program, list(rules or (BASE, MUG_50)),
                                     rewards=[mug])
    return shop


def buy(shop: Shop, member: int, total: int, order_id: str | None = None):
    [outcome] = shop.send(shop.purchase(member, [("BNS", "beans", 1, total)],
                                        order_id=order_id))
    assert outcome.status == "processed", outcome.error
    return outcome


def give_back(shop: Shop, member: int, order_id: str, quantity: int | None = None):
    lines = [{"sku": "BNS", **({"quantity": quantity} if quantity else {})}]
    [outcome] = shop.send(shop.event(member, "return", {"order_id": order_id, "lines": lines}))
    assert outcome.status == "processed", outcome.error
    return outcome


def grants(shop: Shop, member: int | None = None) -> list[Any]:
    query = select(gift_grants).where(gift_grants.c.program_id == shop.program.id)
    if member is not None:
        query = query.where(gift_grants.c.member_id == member)
    return shop.db.read(lambda conn: list(conn.execute(query.order_by(gift_grants.c.id))))


def left(shop: Shop) -> int:
    return shop.db.read(lambda conn: stock_row(conn, shop.program.id, "mug")).remaining


def move(shop: Shop, gift_id: int, state: str):
    return shop.db.transact(lambda conn: gifts.move_fulfilment(conn, shop.program, gift_id,
                                                               state))


# --------------------------------------------------------------------------- domain

def test_a_gift_moves_on_and_never_back():
    assert domain.GIFT_FULFILMENT == ("pending_fulfilment", "sent", "delivered")
    assert domain.GIFT_FULFILMENT[0] == kind_of("gift").redeemed  # as a redeemed gift starts
    assert domain.fulfilment_refusal("granted", "pending_fulfilment", "delivered") is None
    assert domain.fulfilment_refusal("granted", "sent", "sent") is None
    assert domain.fulfilment_refusal("granted", "delivered", "sent") == "fulfilment_backwards"
    assert domain.fulfilment_refusal("cancelled", "cancelled", "sent") == "gift_cancelled"


def test_cancelling_a_gift_restocks_it_only_if_it_was_not_sent():
    assert domain.cancel_gift("pending_fulfilment") == domain.GiftCancellation(
        "cancelled", restock=True)
    for state in ("sent", "delivered"):
        undo = domain.cancel_gift(state)
        assert (undo.fulfilment, undo.restock, undo.already_sent) == (state, False, True)


# --------------------------------------------------------------------------- giving

def test_a_qualifying_purchase_gives_the_gift_and_takes_a_unit(database, clock):
    shop = gift_shop(database, clock)
    member = shop.member()
    outcome = buy(shop, member, 60_00)
    assert outcome.points == 60 and outcome.notes == []
    [gift] = outcome.gifts
    assert (gift.rule_id, gift.reward_id, gift.reward_name, gift.status) == (
        "mug-50", "mug", "Coffee mug", "granted")
    assert gift.reason == "Free mug on orders of $50 or more: Coffee mug"
    [row] = grants(shop, member)
    assert (row.status, row.fulfilment, row.rule_name, row.program_version) == (
        "granted", "pending_fulfilment", "Free mug on orders of $50 or more",
        outcome.program_version)
    assert left(shop) == 4
    assert shop.balance(member).available == 60  # the gift is not points


def test_a_smaller_purchase_gives_no_gift(database, clock):
    shop = gift_shop(database, clock)
    member = shop.member()
    outcome = buy(shop, member, 49_99)
    assert outcome.gifts == [] and outcome.notes == [] and outcome.points == 49
    assert grants(shop, member) == []
    assert left(shop) == 5


def test_when_the_stock_runs_out_the_event_says_so_and_no_gift_is_given(database, clock):
    shop = gift_shop(database, clock, stock=1)
    first, second = shop.member(), shop.member()
    assert len(buy(shop, first, 50_00).gifts) == 1
    late = buy(shop, second, 80_00)
    assert late.gifts == [] and late.points == 80
    assert [(n.rule_id, n.code) for n in late.notes] == [("mug-50", "out_of_stock")]
    assert [g.member_id for g in grants(shop)] == [first]
    assert left(shop) == 0


def test_the_rules_member_limit_counts_a_gift_as_one(database, clock):
    once = rule("mug-once", "purchase", {"gift": "mug"}, min_spend=5000, limits=ONCE,
                name="A mug with your first big order")
    shop = gift_shop(database, clock, once)
    member = shop.member()
    first = buy(shop, member, 60_00)
    second = buy(shop, member, 70_00)
    assert len(first.gifts) == 1 and second.gifts == []
    assert [n.code for n in second.notes] == ["limit_reached"]
    assert len(grants(shop, member)) == 1 and left(shop) == 4


def test_an_out_of_stock_gift_uses_none_of_the_members_limit(database, clock):
    once = rule("mug-once", "purchase", {"gift": "mug"}, min_spend=5000, limits=ONCE,
                name="A mug with your first big order")
    shop = gift_shop(database, clock, once, stock=0)
    member = shop.member()
    assert [n.code for n in buy(shop, member, 60_00).notes] == ["out_of_stock"]
    shop.program = shop.publish_full(shop.program, [once], rewards=[{**MUG, "stock": 3}])
    clock.advance(seconds=1)
    assert len(buy(shop, member, 60_00).gifts) == 1  # restocked: the limit was not used
    assert left(shop) == 2


def test_gifts_and_redemptions_take_from_one_stock(database, clock):
    shop = gift_shop(database, clock, stock=2)
    member = shop.member()
    buy(shop, member, 60_00)
    database.transact(lambda conn: adjust_points(conn, shop.program, member, points=300,
                                                 reason="welcome", key="w", actor="test",
                                                 now=clock.now()))
    database.transact(lambda conn: redemption.redeem(conn, shop.program, member, reward_id="mug",
                                                  key="r-1", actor="test", now=clock.now()))
    assert left(shop) == 0
    assert [n.code for n in buy(shop, shop.member(), 60_00).notes] == ["out_of_stock"]


def test_an_event_sent_again_gives_nothing_more(database, clock):
    shop = gift_shop(database, clock)
    member = shop.member()
    event = shop.purchase(member, [("BNS", "beans", 1, 60_00)])
    [first] = shop.send(event)
    [again] = shop.send(event)
    assert again.status == "duplicate" and again.gifts == first.gifts
    assert len(grants(shop, member)) == 1 and left(shop) == 4


def test_concurrent_purchases_share_out_exactly_the_stock(database, clock):
    shop = gift_shop(database, clock, stock=5)
    members = [shop.member() for _ in range(20)]
    events = [shop.purchase(m, [("BNS", "beans", 1, 60_00)]) for m in members]
    barrier = threading.Barrier(len(events))
    outcomes: list[Any] = []

    def send(event: dict[str, Any]) -> None:
        barrier.wait()
        outcomes.extend(shop.send(event))

    threads = [threading.Thread(target=send, args=(e,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 20 and all(o.status == "processed" for o in outcomes)
    assert sum(len(o.gifts) for o in outcomes) == 5
    assert sum(n.code == "out_of_stock" for o in outcomes for n in o.notes) == 15
    assert len(grants(shop)) == 5 and left(shop) == 0


# --------------------------------------------------------------------------- returns

def test_a_return_below_the_threshold_cancels_the_gift_and_restocks(database, clock):
    shop = gift_shop(database, clock)
    member = shop.member()
    [bought] = shop.send(shop.purchase(member, [("BNS", "beans", 2, 60_00)], order_id="G-1"))
    assert len(bought.gifts) == 1 and left(shop) == 4
    back = give_back(shop, member, "G-1", quantity=1)  # $60 -> $30
    [gift] = back.gifts
    assert (gift.status, gift.reward_id) == ("cancelled", "mug")
    assert gift.reason == "Free mug on orders of $50 or more: order now below $50.00"
    [row] = grants(shop, member)
    assert (row.status, row.fulfilment, row.cancel_reason) == (
        "cancelled", "cancelled", gift.reason)
    assert row.cancelled_at is not None and left(shop) == 5
    rest = give_back(shop, member, "G-1")
    assert rest.gifts == []  # cancelled once only


def test_a_return_that_keeps_the_order_above_the_threshold_keeps_the_gift(database, clock):
    shop = gift_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("BNS", "beans", 4, 80_00)], order_id="G-2"))
    back = give_back(shop, member, "G-2", quantity=1)  # $80 -> $60
    assert back.gifts == [] and back.points == -20
    assert [r.status for r in grants(shop, member)] == ["granted"] and left(shop) == 4


def test_a_gift_already_sent_is_cancelled_but_not_restocked(database, clock):
    shop = gift_shop(database, clock)
    member = shop.member()
    shop.send(shop.purchase(member, [("BNS", "beans", 1, 60_00)], order_id="G-3"))
    [row] = grants(shop, member)
    assert move(shop, row.id, "sent").fulfilment == "sent"
    back = give_back(shop, member, "G-3")
    assert [g.status for g in back.gifts] == ["cancelled"]
    [note] = back.notes
    assert (note.rule_id, note.code) == ("mug-50", "gift_already_sent")
    [row] = grants(shop, member)
    assert (row.status, row.fulfilment) == ("cancelled", "sent")
    assert "not back in stock" in row.cancel_reason
    assert left(shop) == 4


# --------------------------------------------------------------------------- API

def test_the_members_gifts_newest_first_page_by_page(api, database, clock):
    api.request("PUT", "/program", content=as_yaml({
        "name": "Gifts", "settings": {"currency": "USD", "pending_days": 0},
        "earn_rules": [MUG_50], "rewards": [{**MUG, "stock": 10}]}),
        headers={"Content-Type": "application/yaml"}).raise_for_status()
    member = api.post("/members", json={"identities": [
        {"type": "email", "value": "gina@example.com"}]}).json()["id"]
    for n, total in enumerate((60_00, 20_00, 70_00, 90_00)):
        sent = api.post("/events", json={
            "id": f"g-{n}", "type": "purchase", "member": {"id": member},
            "occurred_at": (clock.now() + timedelta(seconds=n)).isoformat(),
            "data": {"order_id": f"G-{n}", "currency": "USD", "total": total}})
        assert sent.status_code == 201, sent.text
    clock.advance(minutes=1)
    first = api.get(f"/members/{member}/gifts", params={"limit": 2}).json()
    assert [g["order_id"] for g in first["items"]] == ["G-3", "G-2"]
    assert first["items"][0]["event_id"] == "g-3"
    assert first["items"][0]["reward_name"] == "Coffee mug"
    rest = api.get(f"/members/{member}/gifts", params={"before": first["next_cursor"]}).json()
    assert [g["order_id"] for g in rest["items"]] == ["G-0"] and rest["next_cursor"] is None
    assert api.get("/members/999999999/gifts").json()["code"] == "member_not_found"
    assert api.get(f"/members/{member}/gifts", role="integration").status_code == 200


def test_staff_move_a_gift_on_and_never_back(api, database, clock):
    api.request("PUT", "/program", json={
        "name": "Gifts", "settings": {"currency": "USD", "pending_days": 0},
        "earn_rules": [MUG_50], "rewards": [{**MUG, "stock": 10}]}).raise_for_status()
    member = api.post("/members", json={"identities": [
        {"type": "email", "value": "hal@example.com"}]}).json()["id"]
    api.post("/events", json={
        "id": "h-1", "type": "purchase", "member": {"id": member},
        "occurred_at": clock.now().isoformat(),
        "data": {"order_id": "H-1", "currency": "USD", "total": 55_00}}).raise_for_status()
    [gift] = api.get(f"/members/{member}/gifts").json()["items"]
    assert gift["fulfilment"] == "pending_fulfilment"
    path = f"/gifts/{gift['id']}/fulfilment"
    sent = api.post(path, json={"state": "sent"}, role="integration")
    assert sent.status_code == 200 and sent.json()["fulfilment"] == "sent"
    assert api.post(path, json={"state": "sent"}).json()["fulfilment"] == "sent"
    assert api.post(path, json={"state": "delivered"}).json()["fulfilment"] == "delivered"
    back = api.post(path, json={"state": "sent"})
    assert (back.status_code, back.json()["code"]) == (409, "fulfilment_backwards")
    assert api.post(path, json={"state": "pending_fulfilment"}).status_code == 422
    assert api.post(path, json={"state": "sent", "extra": 1}).status_code == 422
    assert api.post(path, json={"state": "sent"}, role="analyst").status_code == 403
    missing = api.post("/gifts/999999999/fulfilment", json={"state": "sent"})
    assert (missing.status_code, missing.json()["code"]) == (404, "gift_not_found")
    assert api.get(f"/gifts/{gift['id']}").json()["fulfilment"] == "delivered"


def test_a_cancelled_gift_cannot_be_sent(api, database, clock):
    api.request("PUT", "/program", json={
        "name": "Gifts", "settings": {"currency": "USD", "pending_days": 0},
        "earn_rules": [MUG_50], "rewards": [{**MUG, "stock": 10}]}).raise_for_status()
    member = api.post("/members", json={"identities": [
        {"type": "email", "value": "ivy@example.com"}]}).json()["id"]
    for event in ({"id": "i-1", "type": "purchase", "data": {
                       "order_id": "I-1", "currency": "USD", "total": 55_00}},
                  {"id": "i-2", "type": "return", "data": {"order_id": "I-1"}}):
        api.post("/events", json={**event, "member": {"id": member},
                                  "occurred_at": clock.now().isoformat()}).raise_for_status()
    [gift] = api.get(f"/members/{member}/gifts").json()["items"]
    assert (gift["status"], gift["fulfilment"]) == ("cancelled", "cancelled")
    refused = api.post(f"/gifts/{gift['id']}/fulfilment", json={"state": "sent"})
    assert (refused.status_code, refused.json()["code"]) == (409, "gift_cancelled")


def test_publishing_a_rule_with_a_gift_that_is_not_one_is_refused(api):
    response = api.request("PUT", "/program", json={
        "name": "Gifts", "earn_rules": [rule("g", "purchase", {"gift": "cash"}, name="G")],
        "rewards": [{"id": "cash", "name": "Cash", "type": "cashback", "cost_points": 100,
                     "cashback": 500}]})
    assert response.status_code == 422
    assert [p["path"] for p in response.json()["problems"]] == ["earn_rules[0].points.gift"]


def test_a_simulation_compares_the_gifts_each_version_gives(api, clock):
    def document(threshold: int, stock: int) -> dict[str, Any]:
        return {"name": "Gifts", "settings": {"currency": "USD", "pending_days": 0},
                "earn_rules": [BASE, {**MUG_50, "min_spend": threshold}],
                "rewards": [{**MUG, "stock": stock}]}

    api.request("PUT", "/program", json=document(50_00, 100)).raise_for_status()
    events = [{"id": f"s-{n}", "type": "purchase", "member": {"id": n + 1},
               "occurred_at": (clock.now() - timedelta(hours=1)).isoformat(),
               "data": {"order_id": f"S-{n}", "currency": "USD", "total": total}}
              for n, total in enumerate((30_00, 40_00, 60_00, 90_00))]
    response = api.post("/program/simulate", json={"document": document(35_00, 2),
                                                   "events": events})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["gifts"] == [{"reward_id": "mug", "reward_name": "Coffee mug", "current": 2,
                                "draft": 2, "net_change": 0}]
    [draft] = report["draft"]["gifts"]
    assert (draft["given"], draft["out_of_stock"], draft["stock"]) == (2, 1, 2)
    rules = {r["rule_id"]: r for r in report["rules"]}
    assert rules["mug-50"]["draft"]["gift"] == "mug"
    assert rules["mug-50"]["draft"]["out_of_stock"] == 1
    assert report["net_points_change"] == 0  # gifts are not points
