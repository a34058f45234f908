"""Households announce joining and leaving (``hooks.HouseholdChanged``) in the changing
transaction."""

from __future__ import annotations

import pytest

from patron import hooks
from patron.errors import Conflict
from patron.households import repository, service
from patron.households.domain import HouseholdRoleForbidden
from tests.households.test_service import household_spend, member_spend
from tests.listening import heard


def test_joining_leaving_and_dissolving_are_announced_as_they_happen(shop, clock):
    owner, adult, child = shop.member(), shop.member(), shop.member()
    with heard(hooks.HouseholdChanged) as changes:
        family = shop.household(owner)
        shop.join(family.id, adult)
        shop.join(family.id, child, "child")
        shop.leave(family.id, adult)
        shop.db.transact(lambda conn: service.dissolve(conn, shop.program, family.id,
                                                       now=clock.now(), actor="desk"))
    assert [(c.household_id, c.member_id, c.change) for c in changes] == [
        (family.id, owner, "joined"), (family.id, adult, "joined"),
        (family.id, child, "joined"), (family.id, adult, "left"),
        (family.id, child, "dissolved"), (family.id, owner, "dissolved")]
    assert {c.program.id for c in changes} == {shop.program.id}
    assert changes[0].at == clock.now() and changes[-1].actor == "desk"


def test_a_change_is_announced_inside_its_transaction(shop):
    owner, joiner = shop.member(), shop.member()
    family = shop.household(owner)

    def membership_seen(conn, happened):
        row = repository.membership(conn, happened.member_id)
        assert row is not None and row.household_id == family.id

    with heard(hooks.HouseholdChanged, membership_seen) as changes:
        shop.join(family.id, joiner)
    assert len(changes) == 1


def test_a_subscriber_that_refuses_undoes_the_change(shop):
    owner, joiner = shop.member(), shop.member()
    family = shop.household(owner)

    def refuse(conn, happened):
        raise Conflict("not today")

    with heard(hooks.HouseholdChanged, refuse), pytest.raises(Conflict):
        shop.join(family.id, joiner)
    assert shop.db.read(lambda conn: repository.membership(conn, joiner)) is None


def test_pool_spends_are_announced_and_a_childs_refused_spend_is_not(shop):
    owner, adult, child = shop.member(), shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.join(family.id, child, "child")
    shop.credit(owner, 500)
    pool = shop.account(household_id=family.id)
    with heard(hooks.PointsSpent) as spent:
        household_spend(shop, family.id, adult, 120, "h1")
        member_spend(shop, owner, 80, "m1")
        with pytest.raises(HouseholdRoleForbidden):
            household_spend(shop, family.id, child, 10, "h2")
        with pytest.raises(HouseholdRoleForbidden):
            member_spend(shop, child, 10, "m2")
    assert [(m.member_id, m.points, m.account_id) for h in spent for m in h.moves] == [
        (adult, 120, pool.id), (owner, 80, pool.id)]


def test_points_moving_into_and_out_of_the_pool_are_neither_earned_nor_spent(shop):
    owner, joiner = shop.member(), shop.member()
    shop.credit(joiner, 40)
    family = shop.household(owner)
    with heard(hooks.PointsEarned) as earned, heard(hooks.PointsSpent) as spent:
        shop.join(family.id, joiner)
        shop.leave(family.id, joiner)
    assert (earned, spent) == ([], [])
    assert shop.account(member_id=joiner).available == 40
