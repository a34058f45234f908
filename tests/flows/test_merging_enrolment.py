"""A merge made by enrolment matching, on SQLite and PostgreSQL.

The record enrolled a moment ago holds its identities, its consents, an empty
points account and (given a code) its referral, so that is all the merge moves:
the survivor's points, wallet and tier stand as they were. Lineage, hooks and the
undo are those of any merge: the undo gives both members back exactly."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from patron import hooks
from patron.flows import enrolment, merging, merging_plain
from patron.flows.merging import undo_merge
from patron.members.repository import member_row
from patron.members.schemas import MemberCreate
from patron.members.tables import member_status_changes, merges
from patron.referrals import service as referrals
from patron.referrals.tables import referrals as referrals_table
from patron.tiers.service import member_tier
from patron.wallet.tables import wallet_accounts
from tests.flows.test_ingest import BASE, Shop
from tests.flows.test_merging import adjust, cashback, merge, snapshot
from tests.listening import heard
from tests.matching.conftest import RULES
from tests.tiers.test_tiers import LADDER

BORN = date(1984, 2, 29)
PROFILE = {"given_name": "Ida", "family_name": "Holm", "birthdate": BORN.isoformat()}


def matching_tier_shop(database, clock):
    shop = Shop(database, clock, [BASE], pending_days=0)
    shop.program = shop.publish_full(shop.program, [BASE], tiers={
        "metric": "qualifying_spend", "window": {"type": "calendar_year"}, "grace_days": 30,
        "max_drop": 1, "levels": LADDER}, matching=RULES)
    return shop


def enrol(shop, email, **more):
    payload = MemberCreate.model_validate({"identities": [{"type": "email", "value": email}],
                                           "profile": PROFILE, **more})
    return shop.db.transact(lambda conn: enrolment.enrol_member(conn, shop.program, payload,
                                                                shop.clock.now()))


def tier_of(shop, member_id):
    found = shop.db.read(lambda conn: member_tier(conn, shop.program, member_id,
                                                  shop.clock.now()))
    return found["tier"]["id"], found["secured_until"], [
        (h["kind"], h["to_tier"]) for h in found["history"]]


def count(shop, table, column, member_id):
    return shop.db.read(lambda conn: conn.execute(select(func.count()).select_from(table)
                                                  .where(column == member_id)).scalar_one())


def test_an_enrolment_merge_moves_what_the_new_record_holds_and_undo_restores_both(
        database, clock, monkeypatch):
    shop = matching_tier_shop(database, clock)
    ran = []  # on PostgreSQL: (which statement, its merge id) per plain merge tried
    run_plain = merging_plain.plain_merge
    monkeypatch.setattr(merging_plain, "plain_merge", lambda conn, statement, **kw: (
        ran.append((statement is merging._PLAIN_ENROLLED, run_plain(conn, statement, **kw)))
        or ran[-1][1]))
    old = enrol(shop, "ida@example.com")[0].id
    shop.send(shop.purchase(old, [("BNS", "beans", 1, 150_00)], order_id="O-1"))
    adjust(shop, old, 20, "old-1")
    cashback(shop, old, 3_00)
    referrer = shop.member()
    code = shop.db.transact(lambda conn: referrals.summary(conn, shop.program, referrer,
                                                           shop.clock.now()))["code"]
    shop.clock.set(shop.clock.now() + timedelta(days=2))
    before, tier_before = snapshot(shop, old), tier_of(shop, old)
    assert tier_before[0] == "silver" and before["available"] == 170

    with heard(hooks.MembersMerged) as merged:
        member, new = enrol(shop, "ida.holm@example.com", referral_code=code)
    assert (member.id, new) == (old, False)
    [happened] = merged
    gone, merge_id = happened.merged_id, happened.merge_id
    assert (happened.survivor_id, happened.source, happened.actor) == (old, "enrolment",
                                                                       "matching")
    # the statement that moves only what an enrolment writes merged it, in one try
    assert ran == ([] if database.is_sqlite else [(True, merge_id)])
    made = shop.db.read(lambda conn: conn.execute(select(merges).where(
        merges.c.id == merge_id)).one())
    moved = {name: len(ids) for name, ids in made.moved["rows"].items() if ids}
    assert moved == {"identities": 1, "referrals_as_referee": 1}
    assert (made.moved["points"]["available"], made.moved["points"]["lots"],
            made.moved["wallet"]) == (0, 0, {"balance": 0, "holds": {}})
    row = shop.db.read(lambda conn: member_row(conn, shop.program.id, gone))
    assert (row.status, row.merged_into) == ("merged", old)
    assert count(shop, member_status_changes, member_status_changes.c.member_id, gone) == 1
    after = snapshot(shop, old)
    assert after == dict(before, identities=sorted(before["identities"] + [
        ("email", "ida.holm@example.com")]))
    assert tier_of(shop, old) == tier_before  # nothing to re-place the tier on
    assert count(shop, wallet_accounts, wallet_accounts.c.member_id, gone) == 0
    assert count(shop, referrals_table, referrals_table.c.referee_id, old) == 1

    with heard(hooks.MergeUndone) as undone:
        shop.db.transact(lambda conn: undo_merge(conn, shop.program, merge_id,
                                                 actor="admin:test", now=shop.clock.now()))
    assert [(u.survivor_id, u.merged_id) for u in undone] == [(old, gone)]
    assert snapshot(shop, old) == before
    assert tier_of(shop, old) == tier_before
    assert snapshot(shop, gone) == dict(available=0, pending=0, lots=[], wallet=(0, 0),
                                        identities=[("email", "ida.holm@example.com")],
                                        orders=[])
    row = shop.db.read(lambda conn: member_row(conn, shop.program.id, gone))
    assert (row.status, row.merged_into, row.given_name) == ("active", None, "Ida")
    assert count(shop, referrals_table, referrals_table.c.referee_id, gone) == 1
    assert count(shop, referrals_table, referrals_table.c.referee_id, old) == 0
    assert count(shop, wallet_accounts, wallet_accounts.c.member_id, gone) == 0
    assert tier_of(shop, gone)[0] == "member"


def test_a_record_enrolled_with_nothing_else_merges_and_later_history_still_moves(database,
                                                                                  clock):
    """Once the merged-at-enrolment record is back (undone) and has a history of its own,
    merging it again moves that history too."""
    shop = matching_tier_shop(database, clock)
    old = enrol(shop, "ida@example.com")[0].id
    with heard(hooks.MembersMerged) as merged:
        enrol(shop, "ida.holm@example.com")
    [happened] = merged
    shop.db.transact(lambda conn: undo_merge(conn, shop.program, happened.merge_id,
                                             actor="admin:test", now=shop.clock.now()))
    gone = happened.merged_id
    shop.send(shop.purchase(gone, [("BNS", "beans", 1, 120_00)], order_id="G-1"))
    cashback(shop, gone, 2_00)
    assert tier_of(shop, gone)[0] == "silver"
    merge_id = merge(shop, old, gone)
    made = shop.db.read(lambda conn: conn.execute(select(merges).where(
        merges.c.id == merge_id)).one())
    assert made.moved["points"]["available"] == 120 and made.moved["wallet"]["balance"] == 2_00
    assert len(made.moved["rows"]["orders"]) == 1
    assert snapshot(shop, old)["available"] == 120
    assert tier_of(shop, old)[0] == "silver"


def test_a_records_surviving_row_follows_its_merges(database, clock):
    """What an enrolment answers with: the member the new record stands for now, in one
    statement for a record merged once, and through a chain of merges too."""
    from patron.members.repository import surviving_row

    shop = Shop(database, clock, [BASE], pending_days=0)
    a, b, c = (shop.member() for _ in range(3))
    assert database.read(lambda conn: surviving_row(conn, shop.program.id, a)).id == a
    merge(shop, b, a)
    assert database.read(lambda conn: surviving_row(conn, shop.program.id, a)).id == b
    merge(shop, c, b)
    assert database.read(lambda conn: surviving_row(conn, shop.program.id, a)).id == c
    assert database.read(lambda conn: surviving_row(conn, shop.program.id, 10**9)) is None
    other = Shop(database, clock, [BASE], pending_days=0)
    assert database.read(lambda conn: surviving_row(conn, other.program.id, a)) is None
