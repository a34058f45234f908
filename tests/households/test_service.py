"""Households on SQLite and PostgreSQL: membership, pooled earning and spending, points
moving on joining, leaving and dissolving, returns, and exact balances throughout."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from patron.flows.statement import household_ledger, ledger_page
from patron.households import service
from patron.households.domain import (AlreadyInHousehold, HouseholdFull,
                                      HouseholdMemberNotFound, HouseholdRoleForbidden,
                                      OwnerCannotLeave)
from patron.households.schemas import HouseholdSpendCreate
from patron.ledger import jobs
from patron.ledger import repository as ledger_repository
from patron.ledger.domain import InsufficientPoints
from patron.ledger.service import balance, lock_points_accounts, spend_points
from patron.members.service import MemberNotFound
from tests.households.conftest import FamilyShop

LINE = [("LAT", "drinks", 1, 60_00)]


def household_spend(shop, household_id, member_id, points, key):
    payload = HouseholdSpendCreate(member_id=member_id, points=points, reason="groceries",
                                   idempotency_key=key)
    return shop.db.transact(lambda conn: service.spend(
        conn, shop.program, household_id, payload, key=f"spend:{key}", now=shop.clock.now(),
        actor="test"))


def member_spend(shop, member_id, points, key):
    return shop.db.transact(lambda conn: spend_points(
        conn, shop.program, member_id, points=points, reason="coffee", key=key, actor="test",
        now=shop.clock.now()))


def pool_entries(shop, household_id):
    return shop.db.read(lambda conn: household_ledger(conn, shop.program, household_id,
                                                      None, 100)).items


def test_members_join_and_leave_with_roles_and_the_history_is_kept(shop, clock):
    owner, adult, child = shop.member(), shop.member(), shop.member()
    family = shop.household(owner)
    assert (family.owner_member_id, family.status) == (owner, "active")
    shop.join(family.id, adult, "adult")
    clock.advance(days=1)
    shop.join(family.id, child, "child")
    family = shop.db.read(lambda conn: service.get_household(conn, shop.program, family.id))
    assert [(m.member_id, m.role) for m in family.members] == [
        (owner, "owner"), (adult, "adult"), (child, "child")]
    clock.advance(days=1)
    left = shop.leave(family.id, adult)
    assert adult not in [m.member_id for m in left.members]
    [period] = [p for p in left.history if p.member_id == adult]
    assert period.left_at == clock.now() and period.end_reason == "left"
    assert period.joined_at == clock.now() - timedelta(days=2)
    with pytest.raises(OwnerCannotLeave):
        shop.leave(family.id, owner)
    with pytest.raises(HouseholdMemberNotFound):
        shop.leave(family.id, adult)
    assert shop.db.read(lambda conn: service.household_of(
        conn, shop.program.id, [owner, adult, child])) == {
        owner: (family.id, "owner"), child: (family.id, "child")}
    assert [m.member_id for m in shop.db.read(
        lambda conn: service.members_of(conn, family.id))] == [owner, child]


def test_a_member_belongs_to_one_household_and_a_household_has_a_limit(shop):
    first, second = shop.household(shop.member()), shop.household(shop.member(), "Others")
    someone = shop.member()
    shop.join(first.id, someone)
    with pytest.raises(AlreadyInHousehold):
        shop.join(second.id, someone)
    with pytest.raises(AlreadyInHousehold):
        shop.join(first.id, someone, "child")
    with pytest.raises(AlreadyInHousehold):
        shop.household(someone)
    shop.join(first.id, shop.member())
    shop.join(first.id, shop.member())
    with pytest.raises(HouseholdFull):
        shop.join(first.id, shop.member())
    with pytest.raises(MemberNotFound):  # a household's account holder is not a person
        shop.join(second.id, first.account_member_id)


def test_pooled_earnings_of_two_members_land_in_the_pool_naming_each_earner(shop):
    owner, child = shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, child, "child")
    outcomes = shop.send(shop.purchase(owner, LINE), shop.purchase(child, [("X", "y", 1, 25_00)]))
    assert [o.points for o in outcomes] == [60, 25]
    pool = shop.account(household_id=family.id)
    assert (pool.available, pool.lifetime_earned) == (85, 85)
    assert shop.account(member_id=owner).available == shop.account(member_id=child).available == 0
    earns = [(e.member_id, e.points) for e in pool_entries(shop, family.id) if e.kind == "earn"]
    assert sorted(earns) == sorted([(owner, 60), (child, 25)])
    seen = shop.db.read(lambda conn: balance(conn, shop.program, child))
    assert (seen.member_id, seen.available, seen.household_id, seen.household_role) == (
        child, 85, family.id, "child")
    assert seen.pooled and not seen.can_spend
    mine = shop.db.read(lambda conn: ledger_page(conn, shop.program, child, None, 10)).items
    assert [(e.kind, e.points, e.member_id) for e in mine] == [("earn", 25, child)]


def test_an_adult_spends_the_pool_and_a_child_is_refused(shop):
    owner, adult, child = shop.member(), shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.join(family.id, child, "child")
    shop.credit(owner, 500)  # a pooled member's credit goes to the pool
    spent = household_spend(shop, family.id, adult, 120, "h1")
    assert (spent.entry.member_id, spent.entry.points, spent.balance.available) == (
        adult, -120, 380)
    again = household_spend(shop, family.id, adult, 120, "h1")
    assert again.entry.id == spent.entry.id
    by_member = member_spend(shop, owner, 80, "m1")
    assert by_member.balance.available == 300 and by_member.balance.pooled
    with pytest.raises(HouseholdRoleForbidden):
        household_spend(shop, family.id, child, 10, "h2")
    with pytest.raises(HouseholdRoleForbidden):
        member_spend(shop, child, 10, "m2")
    with pytest.raises(HouseholdRoleForbidden):  # the pool's holder is not a person
        member_spend(shop, family.account_member_id, 10, "m3")
    with pytest.raises(HouseholdMemberNotFound):
        household_spend(shop, family.id, shop.member(), 10, "h3")
    assert shop.account(household_id=family.id).available == 300
    for member in (owner, adult, child):
        shop.account(member_id=member)


def test_two_adults_spending_at_once_never_overspend_the_pool(shop):
    owner, adult = shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.credit(adult, 1000)
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def spend(n: int) -> None:
        barrier.wait()
        try:
            if n % 2:
                household_spend(shop, family.id, adult, 100, f"c-{n}")
            else:
                member_spend(shop, owner, 100, f"c-{n}")
            outcomes.append("ok")
        except InsufficientPoints:
            outcomes.append("insufficient_points")

    threads = [threading.Thread(target=spend, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["insufficient_points"] * 10 + ["ok"] * 10
    assert shop.account(household_id=family.id).available == 0


def test_joining_moves_a_members_points_into_the_pool_with_their_expiry(database, clock):
    shop = FamilyShop(database, clock, pending_days=14, expiry={"days": 90})
    owner, joiner = shop.member(), shop.member()
    family = shop.household(owner)
    shop.credit(joiner, 100)
    shop.send(shop.purchase(joiner, LINE))            # 60 pending for 14 days
    before = database.read(lambda conn: {
        (lot.remaining, lot.state, lot.expires_at, lot.available_at)
        for lot in ledger_repository.live_lots(conn, shop.account(member_id=joiner).id)})
    clock.advance(days=1)
    shop.join(family.id, joiner)
    own, pool = shop.account(member_id=joiner), shop.account(household_id=family.id)
    assert (own.available, own.pending, own.lifetime_earned) == (0, 0, 160)
    assert (pool.available, pool.pending) == (100, 60)
    after = database.read(lambda conn: {
        (lot.remaining, lot.state, lot.expires_at, lot.available_at)
        for lot in ledger_repository.live_lots(conn, pool.id)})
    assert after == before
    moved = [(e.kind, e.status, e.points, e.member_id) for e in pool_entries(shop, family.id)]
    assert sorted(moved) == [("transfer", "pending", 60, joiner),
                             ("transfer", "posted", 100, joiner)]
    clock.advance(days=14)
    jobs.run_all(database, clock.now())
    pool = shop.account(household_id=family.id)
    assert (pool.available, pool.pending) == (160, 0)
    shop.account(member_id=joiner)


def test_a_return_after_joining_takes_the_pending_points_back_from_the_pool(database, clock):
    shop = FamilyShop(database, clock, pending_days=14)
    owner, joiner = shop.member(), shop.member()
    family = shop.household(owner)
    shop.credit(joiner, 40)
    shop.send(shop.purchase(joiner, LINE, order_id="R-1"))
    shop.join(family.id, joiner)
    [back] = shop.send(shop.event(joiner, "return", {"order_id": "R-1"}))
    assert back.status == "processed" and back.points == -60
    pool = shop.account(household_id=family.id)
    assert (pool.available, pool.pending) == (40, 0)
    [reverse] = [e for e in pool_entries(shop, family.id) if e.kind == "reverse"]
    assert (reverse.member_id, reverse.status) == (joiner, "pending")
    shop.account(member_id=joiner)


def test_leaving_with_points_takes_what_the_pool_still_holds_of_theirs(shop, clock):
    owner, adult = shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.send(shop.purchase(adult, [("A", "x", 1, 30_00)]))
    clock.advance(days=1)
    shop.send(shop.purchase(owner, [("B", "x", 1, 50_00)]))
    member_spend(shop, owner, 20, "s1")             # oldest first: 20 of the adult's 30
    left = shop.leave(family.id, adult)
    assert adult not in [m.member_id for m in left.members]
    assert shop.account(member_id=adult).available == 10
    assert shop.account(household_id=family.id).available == 50
    later = shop.send(shop.purchase(adult, [("C", "x", 1, 5_00)]))
    assert later[0].points == 5 and shop.account(member_id=adult).available == 15
    seen = shop.db.read(lambda conn: balance(conn, shop.program, adult))
    assert seen.household_id is None and not seen.pooled and seen.can_spend


def test_with_stay_a_leaving_members_points_stay_in_the_pool(database, clock):
    shop = FamilyShop(database, clock, {"leaving_member_points": "stay"}, pending_days=14)
    owner, adult = shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.send(shop.purchase(adult, LINE, order_id="S-1"))
    shop.leave(family.id, adult)
    assert shop.account(member_id=adult).pending == 0
    assert shop.account(household_id=family.id).pending == 60
    [back] = shop.send(shop.event(adult, "return", {"order_id": "S-1"}))
    assert back.status == "processed"            # taken from the pool that holds them
    assert shop.account(household_id=family.id).pending == 0
    assert shop.account(member_id=adult).available == 0


def test_dissolving_sends_members_points_home_and_the_rest_to_the_owner(shop):
    owner, adult, child = shop.member(), shop.member(), shop.member()
    shop.credit(owner, 100)
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.join(family.id, child, "child")
    shop.send(shop.purchase(adult, [("A", "x", 1, 30_00)]))
    shop.send(shop.purchase(child, [("B", "x", 1, 20_00)]))
    gone = shop.db.transact(lambda conn: service.dissolve(conn, shop.program, family.id,
                                                          now=shop.clock.now(), actor="test"))
    assert gone.status == "dissolved" and gone.members == [] and gone.owner_member_id is None
    assert {p.end_reason for p in gone.history} == {"dissolved"}
    assert [shop.account(member_id=m).available for m in (owner, adult, child)] == [100, 30, 20]
    assert shop.account(household_id=family.id).available == 0
    assert shop.household(adult, "New home").owner_member_id == adult


def test_without_pooling_points_stay_with_each_member(database, clock):
    shop = FamilyShop(database, clock, {"pooled_points": False})
    owner, adult = shop.member(), shop.member()
    shop.credit(adult, 70)
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.send(shop.purchase(adult, LINE))
    assert shop.account(member_id=adult).available == 130
    assert shop.account(household_id=family.id).available == 0
    seen = shop.db.read(lambda conn: balance(conn, shop.program, adult))
    assert (seen.household_id, seen.pooled, seen.available) == (family.id, False, 130)
    assert member_spend(shop, adult, 30, "own").balance.available == 100


def test_a_balance_owed_moves_with_the_member_and_is_paid_off_from_the_pool(database, clock):
    shop = FamilyShop(database, clock, negative_balance="allow_negative")
    owner, joiner = shop.member(), shop.member()
    family = shop.household(owner)
    shop.credit(owner, 100)
    shop.send(shop.purchase(joiner, LINE, order_id="D-1"))
    member_spend(shop, joiner, 60, "all")
    shop.send(shop.event(joiner, "return", {"order_id": "D-1"}))
    assert shop.account(member_id=joiner).available == -60
    shop.join(family.id, joiner)
    assert shop.account(member_id=joiner).available == 0
    assert shop.account(household_id=family.id).available == 40   # 100 less the 60 owed
    kinds = [e.kind for e in pool_entries(shop, family.id)]
    assert "settle" in kinds and "transfer" in kinds


def test_a_debt_a_members_return_made_the_pool_owe_leaves_with_them(database, clock):
    shop = FamilyShop(database, clock, negative_balance="allow_negative")
    owner, adult = shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, adult)
    shop.send(shop.purchase(adult, LINE, order_id="D-2"))
    household_spend(shop, family.id, owner, 60, "spent")
    shop.send(shop.event(adult, "return", {"order_id": "D-2"}))
    assert shop.account(household_id=family.id).available == -60
    shop.leave(family.id, adult)
    assert shop.account(household_id=family.id).available == 0
    assert shop.account(member_id=adult).available == -60
    later = shop.send(shop.purchase(adult, [("Z", "x", 1, 100_00)]))
    assert later[0].points == 100 and shop.account(member_id=adult).available == 40


def test_ingest_can_lock_members_accounts_and_their_pools_in_order(shop):
    owner, loner = shop.member(), shop.member()
    family = shop.household(owner)

    def lock_and_read(conn):
        lock_points_accounts(conn, shop.program.id, [owner, loner])
        return service.repository.accounts_with_households(conn, shop.program.id,
                                                           [owner, loner])
    rows = shop.db.transact(lock_and_read)
    assert rows[owner].household_id == family.id and rows[owner].household_role == "owner"
    assert rows[loner].household_id is None and rows[loner].pool_account_id is None
    pool = shop.account(household_id=family.id)
    assert rows[owner].pool_account_id == pool.id


@pytest.mark.parametrize("lock", [False, True])
def test_one_or_two_members_accounts_read_as_a_list_of_them_reads(shop, lock):
    """One or two members (a spend, a merge) go through statements of their own on
    PostgreSQL (planned once); they give the same rows as the list's statement, with
    each member's status."""
    owner, adult, loner = shop.member(), shop.member(), shop.member()
    family = shop.household(owner)
    shop.join(family.id, adult)

    def read(conn, ids):
        return {member_id: dict(row._mapping) for member_id, row in
                service.repository.accounts_with_households(conn, shop.program.id, ids,
                                                            lock=lock).items()}
    everyone = shop.db.transact(lambda conn: read(conn, [owner, adult, loner, 10**9]))
    assert sorted(everyone) == sorted([owner, adult, loner])
    assert {row["member_status"] for row in everyone.values()} == {"active"}
    assert everyone[loner]["merged_into"] is None
    for ids in ([owner], [adult], [loner], [loner, owner], [adult, loner], [adult, adult],
                [10**9], [loner, 10**9]):
        found = shop.db.transact(lambda conn, ids=ids: read(conn, ids))
        assert found == {i: everyone[i] for i in ids if i in everyone}, ids
