"""Referrals on SQLite and PostgreSQL: codes, attribution, abuse guards, payment after
the first purchase's return window, and no payment when it was returned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from patron.flows.enrolment import create_member
from patron.referrals import repository
from patron.flows.referral_payouts import pay_due
from patron.referrals.service import (UnknownReferralCode, attribute, code_for,
                                      summary)
from tests.flows.test_ingest import BASE, Shop, rule
from tests.factories import member_create

REFERRER = rule("refer_friend", "referral", {"fixed": 500}, when="event.data.role == 'referrer'",
                name="You referred a friend")
REFEREE = rule("welcome_friend", "referral", {"fixed": 200},
               when="event.data.role == 'referee'", name="Welcome, friend")


def referral_shop(database, clock, **referrals):
    shop = Shop(database, clock, [BASE, REFERRER, REFEREE])
    shop.program = shop.publish_full(shop.program, [BASE, REFERRER, REFEREE], referrals={
        "link": "https://coffee.example/join?ref={code}", "min_spend": 10_00,
        "return_window_days": 14, "new_member_days": 30, **referrals})
    return shop


def code(shop, member_id):
    return shop.db.transact(lambda conn: code_for(conn, shop.program, member_id,
                                                  shop.clock.now()))


def join(shop, referral_code=None, **overrides):
    payload = member_create(**overrides)
    payload = payload.model_copy(update={"referral_code": referral_code})
    return shop.db.transact(lambda conn: create_member(conn, shop.program, payload,
                                                       shop.clock.now())).id


def state(shop, member_id):
    return shop.db.read(lambda conn: repository.referral_of(conn, shop.program.id, member_id))


def pay(shop):
    return shop.db.transact(lambda conn: pay_due(conn, shop.program, shop.clock.now()))


def test_both_sides_earn_once_the_first_purchase_is_past_the_return_window(database, clock):
    shop = referral_shop(database, clock)
    ann = shop.member()
    ann_code = code(shop, ann)
    assert len(ann_code) == 8 and code(shop, ann) == ann_code
    ben = join(shop, ann_code.lower())
    assert state(shop, ben).state == "pending"
    [small] = shop.send(shop.purchase(ben, [("ESP", "", 1, 3_00)]))
    assert state(shop, ben).state == "pending"
    shop.send(shop.purchase(ben, [("BNS", "", 1, 16_00)], order_id="F-1"))
    assert (state(shop, ben).state, state(shop, ben).order_id) == ("qualified", "F-1")
    clock.advance(days=13)
    assert pay(shop) == 0
    clock.advance(days=2)
    assert pay(shop) == 1 and state(shop, ben).state == "paid"
    assert pay(shop) == 0
    assert shop.balance(ann).available == 500
    assert shop.balance(ben).available == 3 + 16 + 200
    view = shop.db.transact(lambda conn: summary(conn, shop.program, ann, clock.now()))
    assert view["link"] == f"https://coffee.example/join?ref={ann_code}"
    assert view["counts"] == {"paid": 1}


def test_a_returned_first_purchase_does_not_pay(database, clock):
    shop = referral_shop(database, clock)
    ann = shop.member()
    ben = join(shop, code(shop, ann))
    shop.send(shop.purchase(ben, [("BNS", "", 1, 16_00)], order_id="F-2"))
    shop.send(shop.event(ben, "return", {"order_id": "F-2"}))
    clock.advance(days=15)
    assert pay(shop) == 1
    assert state(shop, ben).state == "void" and "returned" in state(shop, ben).reason
    assert shop.balance(ann).available == 0


def test_sign_up_event_with_a_code_is_attributed(database, clock):
    shop = referral_shop(database, clock)
    ann = shop.member()
    ann_code = code(shop, ann)
    [signed] = shop.send({"id": "su-1", "type": "sign_up", "occurred_at": clock.now().isoformat(),
                          "member": {"identity": {"type": "email", "value": "new@x.example"}},
                          "data": {"referral_code": ann_code}})
    assert signed.enrolled
    assert state(shop, signed.member_id).referrer_id == ann


def test_abuse_guards(database, clock):
    shop = referral_shop(database, clock, cap={"period": "month", "count": 2})
    ann = shop.member()
    ann_code = code(shop, ann)
    with pytest.raises(UnknownReferralCode):
        join(shop, "NOSUCHCODE")
    # self-referral: the code's owner
    shop.db.transact(lambda conn: attribute(conn, shop.program, ann, ann_code, clock.now()))
    assert state(shop, ann).state == "refused" and "self_referral" in state(shop, ann).reason
    # not new: joined long ago and already bought
    old = shop.member()
    shop.send(shop.purchase(old, [("X", "", 1, 5_00)]))
    clock.advance(days=40)
    shop.db.transact(lambda conn: attribute(conn, shop.program, old, ann_code, clock.now()))
    assert "not_new" in state(shop, old).reason
    # the cap: two a month
    first, second, third = join(shop, ann_code), join(shop, ann_code), join(shop, ann_code)
    assert [state(shop, m).state for m in (first, second, third)] == [
        "pending", "pending", "refused"]
    assert "cap_reached" in state(shop, third).reason
    clock.advance(days=31)
    assert state(shop, join(shop, ann_code)).state == "pending"


def test_shared_identity_is_self_referral(database, clock):
    shop = referral_shop(database, clock)
    ann = join(shop, identities=[{"type": "email", "value": "Ann@X.example"}])
    ann_code = code(shop, ann)
    twin = join(shop, identities=[{"type": "external_id", "value": "ann@x.example"}])
    other = join(shop, identities=[{"type": "external_id", "value": "bob@x.example"}])
    for member in (twin, other):
        shop.db.transact(lambda conn: attribute(conn, shop.program, member, ann_code,
                                                clock.now()))
    assert state(shop, twin).state == "refused" and "share an identity" in state(shop, twin).reason
    assert state(shop, other).state == "pending"
