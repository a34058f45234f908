"""Activity after a merge, on undo: an event belongs to the member whose (original)
identity it came through; its earn and its order go back with it."""

from __future__ import annotations

from sqlalchemy import select

from patron.events.tables import events
from patron.flows.enrolment import create_member
from patron.members.tables import merges
from tests.factories import member_create
from tests.flows.test_merging import _shop, adjust, merge, snapshot, undo


def _member(shop, email):
    return shop.db.transact(lambda conn: create_member(conn, shop.program, member_create(
        identities=[{"type": "email", "value": email}]), shop.clock.now())).id


def _bought(shop, email, order_id, amount):
    event = shop.purchase(0, [("BNS", "beans", 1, amount)], order_id=order_id)
    event["member"] = {"identity": {"type": "email", "value": email}}
    [done] = shop.send(event)
    assert done.status == "processed", done.error
    return event["id"]


def test_a_purchase_through_the_merged_members_email_goes_back_with_it_on_undo(database, clock):
    shop = _shop(database, clock)
    a, b = _member(shop, "ann@example.com"), _member(shop, "bea@example.com")
    adjust(shop, a, 100, "a-1")
    adjust(shop, b, 70, "b-1")
    before = {m: snapshot(shop, m) for m in (a, b)}
    merge_id = merge(shop, a, b)
    through_b = _bought(shop, "Bea@Example.com", "AFTER-B", 40_00)   # lands on a for now
    through_a = _bought(shop, "ann@example.com", "AFTER-A", 25_00)
    assert snapshot(shop, a)["pending"] == 65
    recorded = shop.db.read(lambda conn: dict(conn.execute(
        select(events.c.external_id, events.c.identity_id)
        .where(events.c.external_id.in_([through_a, through_b]))).all()))
    assert None not in recorded.values() and len(set(recorded.values())) == 2

    undo(shop, merge_id)
    after = {m: snapshot(shop, m) for m in (a, b)}
    assert after[b]["pending"] == 40 and after[b]["available"] == 70
    assert after[b]["orders"] == sorted(before[b]["orders"] + ["AFTER-B"])
    assert after[a]["pending"] == 25 and after[a]["available"] == 100
    assert "AFTER-A" in after[a]["orders"] and "AFTER-B" not in after[a]["orders"]
    owners = shop.db.read(lambda conn: dict(conn.execute(
        select(events.c.external_id, events.c.member_id)
        .where(events.c.external_id.in_([through_a, through_b]))).all()))
    assert owners == {through_b: b, through_a: a}
    moved = shop.db.read(lambda conn: conn.execute(select(merges.c.moved)
                                                   .where(merges.c.id == merge_id)).scalar())
    assert moved["undo"]["after_merge"]["pending"] == 40


def test_an_event_by_member_id_after_the_merge_stays_with_the_survivor(database, clock):
    shop = _shop(database, clock)
    a, b = _member(shop, "cal@example.com"), _member(shop, "dee@example.com")
    merge_id = merge(shop, a, b)
    [done] = shop.send(shop.purchase(a, [("BNS", "beans", 1, 30_00)], order_id="BY-ID"))
    assert done.status == "processed", done.error
    undo(shop, merge_id)
    assert snapshot(shop, a)["pending"] == 30 and snapshot(shop, a)["orders"] == ["BY-ID"]
    assert snapshot(shop, b)["pending"] == 0


def test_an_event_sent_by_the_merged_members_old_id_lands_on_the_survivor(database, clock):
    shop = _shop(database, clock)
    a, b = _member(shop, "eve@example.com"), _member(shop, "fay@example.com")
    merge(shop, a, b)
    [done] = shop.send(shop.purchase(b, [("BNS", "beans", 1, 30_00)], order_id="OLD-ID"))
    assert done.status == "processed", done.error
    assert snapshot(shop, a)["pending"] == 30 and snapshot(shop, a)["orders"] == ["OLD-ID"]
    owner = shop.db.read(lambda conn: conn.execute(
        select(events.c.member_id).where(events.c.external_id == done.id)).scalar())
    assert owner == a
