"""Members joining, events recorded and referrals qualifying are announced in the
transaction that made them (``patron.hooks``), and referrals react only through them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from patron import hooks
from patron.errors import Conflict
from patron.members.tables import members
from patron.referrals.service import on_events_recorded, on_members_enrolled
from tests.listening import heard
from tests.referrals.test_referrals import code, join, referral_shop, state


def count_members(conn, program_id):
    return conn.execute(select(func.count()).select_from(members)
                        .where(members.c.program_id == program_id)).scalar_one()


def test_referrals_react_through_the_hooks_wired_in_one_place():
    assert on_members_enrolled in hooks.subscribers_of(hooks.MembersEnrolled)
    assert on_events_recorded in hooks.subscribers_of(hooks.EventsRecorded)


def test_a_member_who_joins_with_a_code_is_announced_with_it(database, clock):
    shop = referral_shop(database, clock)
    ann = shop.member()
    ann_code = code(shop, ann)
    seen = []
    with heard(hooks.MembersEnrolled,
               lambda conn, h: seen.append(count_members(conn, h.program.id))) as got:
        ben = join(shop, ann_code)
    [happened] = got
    assert happened.strict and happened.program.id == shop.program.id
    assert [(m.member_id, m.referral_code) for m in happened.members] == [(ben, ann_code)]
    assert seen == [2]  # the subscriber already reads the new member: same transaction
    assert state(shop, ben).state == "pending"


def test_a_subscriber_that_refuses_an_enrolment_leaves_no_member(database, clock):
    shop = referral_shop(database, clock)
    before = shop.db.read(lambda conn: count_members(conn, shop.program.id))

    def refuse(conn, happened):
        raise Conflict("not today")

    with heard(hooks.MembersEnrolled, refuse), pytest.raises(Conflict):
        join(shop)
    assert shop.db.read(lambda conn: count_members(conn, shop.program.id)) == before


def test_recorded_purchases_and_the_referral_they_qualify_are_announced(database, clock):
    shop = referral_shop(database, clock)
    ann = shop.member()
    ben = join(shop, code(shop, ann))
    with heard(hooks.EventsRecorded) as recorded, heard(hooks.ReferralQualified) as qualified:
        shop.send(shop.purchase(ben, [("BNS", "", 1, 16_00)], order_id="F-9"))
    [batch] = recorded
    [event] = batch.events
    assert (event.type, event.member_id, event.order_id, event.order_total) == (
        "purchase", ben, "F-9", 16_00)
    [referral] = qualified
    assert (referral.referrer_id, referral.referee_id, referral.order_id) == (ann, ben, "F-9")
    assert state(shop, ben).state == "qualified"
