"""The households tell the ledger who sits in which pool (``patron.ledger.pools``)."""

from __future__ import annotations

from patron.households.directory import HouseholdPools
from patron.ledger import pools
from patron.ledger.pools import PoolSeat


def test_the_directory_wired_for_the_ledger_is_the_households(shop):
    assert isinstance(pools.directory(), HouseholdPools)


def test_members_seats_say_household_role_pool_and_who_may_spend(shop):
    owner, child, loner = shop.member(), shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, child, "child")
    pool = shop.account(household_id=family.id)
    holder = family.account_member_id
    accounts, seats = shop.db.read(lambda conn: HouseholdPools().accounts(
        conn, shop.program.id, [owner, child, loner, holder]))
    assert set(accounts) == {owner, child, loner, holder}
    assert seats == {
        owner: PoolSeat(family.id, pool.id, "owner", may_spend=True),
        child: PoolSeat(family.id, pool.id, "child", may_spend=False),
        holder: PoolSeat(family.id, pool.id, None, may_spend=False, holder=True)}


def test_pooling_is_the_program_documents_choice(shop):
    assert shop.db.read(lambda conn: HouseholdPools().pools_points(conn, shop.program))
    shop.republish(pooled_points=False)
    assert not shop.db.read(lambda conn: HouseholdPools().pools_points(conn, shop.program))
