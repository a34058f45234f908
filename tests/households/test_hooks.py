"""Households announce joining and leaving (``hooks.HouseholdChanged``) in the changing
transaction."""

from __future__ import annotations

import pytest

from patron import hooks
from patron.errors import Conflict
from patron.households import repository, service
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
