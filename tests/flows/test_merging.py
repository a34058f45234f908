"""Merge and undo on SQLite and PostgreSQL: everything moves to the survivor as new
entries naming the merge, and an undo gives both members back exactly what they had."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from patron.campaigns.tables import campaign_members
from patron.errors import PatronError
from patron.events.tables import orders
from patron.flows import merging, merging_plain
from patron.flows.merging import merge_members, undo_merge
from patron.flows.merging_money import pay_back_pieces
from patron.ledger import repository as ledger_repository
from patron.ledger.domain import Lot, LotState
from patron.ledger.service import adjust_points, spend_points
from patron.members.repository import identities_of, member_row
from patron.members.tables import member_status_changes, merges
from patron.segments.tables import member_tags
from patron.wallet import service as wallet_service
from patron.wallet.service import WalletMove
from tests.flows.test_ingest import BASE, Shop
from tests.listening import heard
from patron import hooks


def _shop(database, clock):
    return Shop(database, clock, [BASE], pending_days=14, expiry={"days": 365})


def snapshot(shop, member_id):
    """What a member has, from the account and from the ledger itself."""
    def read(conn):
        account = ledger_repository.accounts_by_member(conn, shop.program.id,
                                                       [member_id])[member_id]
        totals = ledger_repository.ledger_totals(conn, account.id)
        assert account.available == totals["available"] == totals["open_lots"]
        assert account.pending == totals["pending"] == totals["pending_lots"]
        lots = sorted((lot.remaining, lot.state.value, lot.expires_at, lot.available_at)
                      for lot in ledger_repository.live_lots(conn, account.id))
        wallet = wallet_service.wallet(conn, shop.program, member_id, limit=1)
        if wallet["balance"] or wallet["pending"]:
            row = conn.execute(select(wallet_service.wallet_accounts).where(
                wallet_service.wallet_accounts.c.member_id == member_id)).one()
            assert wallet["balance"] == wallet_service.totals(conn, row.id)
            assert wallet["pending"] == wallet_service.pending_total(conn, row.id)
        idents = sorted((i.type, i.value) for i in identities_of(conn, [member_id])[member_id])
        bought = sorted(conn.execute(select(orders.c.order_id)
                                     .where(orders.c.member_id == member_id)).scalars())
        return dict(available=account.available, pending=account.pending, lots=lots,
                    wallet=(wallet["balance"], wallet["pending"]), identities=idents,
                    orders=bought)
    return shop.db.read(read)


def adjust(shop, member_id, points, key):
    shop.db.transact(lambda conn: adjust_points(
        conn, shop.program, member_id, points=points, reason="test", key=key, actor="test",
        now=shop.clock.now()))


def cashback(shop, member_id, amount, held=False):
    now = shop.clock.now()
    shop.db.transact(lambda conn: wallet_service.credit_many(conn, shop.program, [WalletMove(
        member_id, amount, "cashback", f"cb-{member_id}-{amount}-{held}", "test", now, "test",
        available_at=now + timedelta(days=14) if held else None)], now))


def merge(shop, survivor, merged, **kw):
    return shop.db.transact(lambda conn: merge_members(
        conn, shop.program, survivor, merged, reason="same person", actor="admin:test",
        now=shop.clock.now(), **kw))


def undo(shop, merge_id):
    shop.db.transact(lambda conn: undo_merge(conn, shop.program, merge_id, actor="admin:test",
                                             now=shop.clock.now()))


def two_members_with_history(shop):
    a, b = shop.member(), shop.member()
    adjust(shop, a, 100, "a-1")
    shop.send(shop.purchase(a, [("LAT", "drinks", 1, 30_00)], order_id=f"A-{a}"))
    shop.clock.set(shop.clock.now() + timedelta(days=3))
    adjust(shop, b, 70, "b-1")
    shop.send(shop.purchase(b, [("BNS", "beans", 2, 50_00)], order_id=f"B-{b}"))
    cashback(shop, b, 5_00)
    cashback(shop, b, 2_00, held=True)
    cashback(shop, a, 1_00)
    return a, b


def test_merge_moves_everything_to_the_survivor_and_undo_restores_both(database, clock):
    shop = _shop(database, clock)
    a, b = two_members_with_history(shop)
    before = {m: snapshot(shop, m) for m in (a, b)}
    assert before[b]["pending"] == 50 and before[b]["available"] == 70
    with heard(hooks.MembersMerged) as merged_events:
        merge_id = merge(shop, a, b)
    assert [(h.survivor_id, h.merged_id, h.merge_id) for h in merged_events] == [(a, b, merge_id)]
    after = {m: snapshot(shop, m) for m in (a, b)}
    assert after[a]["available"] == before[a]["available"] + before[b]["available"]
    assert after[a]["pending"] == before[a]["pending"] + before[b]["pending"]
    assert after[a]["lots"] == sorted(before[a]["lots"] + before[b]["lots"])
    assert after[a]["wallet"] == (6_00, 2_00)
    assert after[a]["identities"] == sorted(before[a]["identities"] + before[b]["identities"])
    assert after[a]["orders"] == sorted(before[a]["orders"] + before[b]["orders"])
    assert after[b] == dict(available=0, pending=0, lots=[], wallet=(0, 0), identities=[],
                            orders=[])
    row = shop.db.read(lambda conn: member_row(conn, shop.program.id, b))
    assert (row.status, row.merged_into) == ("merged", a)
    reasons = shop.db.read(lambda conn: [e.reason for e in ledger_repository.page_entries(
        conn, ledger_repository.accounts_by_member(conn, shop.program.id, [a])[a].id,
        None, 50)])
    assert f"merged from member {b} (merge {merge_id})" in reasons
    assert merge(shop, a, b) == merge_id  # the same pair again: the same merge

    with heard(hooks.MergeUndone) as undone:
        undo(shop, merge_id)
    assert len(undone) == 1
    assert {m: snapshot(shop, m) for m in (a, b)} == before
    row = shop.db.read(lambda conn: member_row(conn, shop.program.id, b))
    assert (row.status, row.merged_into) == ("active", None)
    state = shop.db.read(lambda conn: conn.execute(select(merges.c.state)
                                                   .where(merges.c.id == merge_id)).scalar())
    assert state == "undone"


def test_a_return_after_the_merge_claws_back_the_merged_members_lot(database, clock):
    shop = _shop(database, clock)
    a, b = shop.member(), shop.member()
    shop.send(shop.purchase(b, [("BNS", "beans", 2, 50_00)], order_id=f"R-{b}"))
    merge(shop, a, b)
    assert snapshot(shop, a)["pending"] == 50
    [back] = shop.send(shop.event(a, "return", {"order_id": f"R-{b}"}))
    assert back.status == "processed", back.error
    assert [x.points for x in back.awards] == [-50]
    assert snapshot(shop, a)["pending"] == 0


def test_spends_after_the_merge_stay_with_the_survivor_paid_from_its_own_points(database,
                                                                                clock):
    shop = _shop(database, clock)
    a, b = shop.member(), shop.member()
    adjust(shop, b, 50, "b")  # expires first: a spend takes these first
    shop.clock.set(shop.clock.now() + timedelta(days=10))
    adjust(shop, a, 100, "a")
    before_b = snapshot(shop, b)
    merge_id = merge(shop, a, b)
    shop.db.transact(lambda conn: spend_points(conn, shop.program, a, points=60, reason="x",
                                               key="s1", actor="t", now=shop.clock.now()))
    undo(shop, merge_id)
    # b gets its 50 back with their expiry; a paid them from its own 100 - 10
    assert snapshot(shop, b) == before_b
    assert snapshot(shop, a)["available"] == 40
    moved = shop.db.read(lambda conn: conn.execute(select(merges.c.moved)
                                                   .where(merges.c.id == merge_id)).scalar())
    assert moved["undo"]["spent_since"] == 50 and moved["undo"]["points_shortfall"] == 0


def test_when_the_survivor_cannot_cover_the_shortfall_is_recorded(database, clock):
    shop = _shop(database, clock)
    a, b = shop.member(), shop.member()
    adjust(shop, b, 50, "b")
    shop.clock.set(shop.clock.now() + timedelta(days=10))
    adjust(shop, a, 100, "a")
    merge_id = merge(shop, a, b)
    shop.db.transact(lambda conn: spend_points(conn, shop.program, a, points=120, reason="x",
                                               key="s1", actor="t", now=shop.clock.now()))
    undo(shop, merge_id)
    assert snapshot(shop, a)["available"] == 0
    assert snapshot(shop, b)["available"] == 30
    moved = shop.db.read(lambda conn: conn.execute(select(merges.c.moved)
                                                   .where(merges.c.id == merge_id)).scalar())
    assert moved["undo"]["points_shortfall"] == 20


def test_refusals(database, clock):
    shop = _shop(database, clock)
    a, b, c = shop.member(), shop.member(), shop.member()

    def code(work):
        with pytest.raises(PatronError) as caught:
            work()
        return caught.value.status, caught.value.code
    assert code(lambda: merge(shop, a, a)) == (422, "merge_self")
    first = merge(shop, a, b)
    assert code(lambda: merge(shop, c, b)) == (409, "already_merged")
    assert code(lambda: merge(shop, b, c)) == (409, "merge_into_inactive")
    assert code(lambda: merge(shop, a, 10**12)) == (404, "member_not_found")
    second = merge(shop, c, a)
    assert code(lambda: undo(shop, first)) == (409, "survivor_merged_again")
    undo(shop, second)
    undo(shop, first)
    assert code(lambda: undo(shop, first)) == (409, "merge_already_undone")
    assert code(lambda: undo(shop, 10**12)) == (404, "merge_not_found")


def test_pay_back_pieces_cover_the_soonest_expiring_first():
    from datetime import datetime, timezone
    t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    early = Lot(1, 10, 0, LotState.OPEN, t, t, t + timedelta(days=5))
    late = Lot(2, 10, 0, LotState.OPEN, t, t, t + timedelta(days=50))
    never = Lot(3, 10, 0, LotState.OPEN, t, t, None)
    pieces = pay_back_pieces([(never, 10), (late, 10), (early, 10)], 15)
    assert [(p.points, p.expires_at) for p in pieces] == [(10, early.expires_at),
                                                          (5, late.expires_at)]
    assert pay_back_pieces([(early, 10)], 0) == []


def test_campaign_assignments_and_tags_follow_the_merge_and_come_back_on_undo(database,
                                                                             clock):
    shop = _shop(database, clock)
    a, b = shop.member(), shop.member()
    now = shop.clock.now()

    def give(conn):
        for member_id, campaign_id, group in ((a, "spring", "treatment"),
                                              (b, "spring", "holdout"),
                                              (b, "summer", "treatment")):
            conn.execute(insert(campaign_members).values(
                program_id=shop.program.id, campaign_id=campaign_id, member_id=member_id,
                group=group, bucket=1, assigned_at=now))
        for member_id, tag in ((a, "vip"), (b, "vip"), (b, "baker")):
            conn.execute(insert(member_tags).values(
                program_id=shop.program.id, member_id=member_id, tag=tag, source="manual",
                added_by="test", added_at=now))
    shop.db.transact(give)

    def held():
        return shop.db.read(lambda conn: (
            sorted(conn.execute(select(campaign_members.c.member_id,
                                       campaign_members.c.campaign_id,
                                       campaign_members.c.group).where(
                campaign_members.c.member_id.in_([a, b]))).all()),
            sorted(conn.execute(select(member_tags.c.member_id, member_tags.c.tag).where(
                member_tags.c.member_id.in_([a, b]))).all())))
    before = held()
    merge_id = merge(shop, a, b)
    assignments, tags = held()
    # the survivor keeps its own group in spring; summer, which only b was in, follows b
    assert assignments == sorted([(a, "spring", "treatment"), (b, "spring", "holdout"),
                                  (a, "summer", "treatment")])
    assert tags == sorted([(a, "vip"), (b, "vip"), (a, "baker")])
    undo(shop, merge_id)
    assert held() == before


@pytest.mark.parametrize("enrolled_now", [False, True])
@pytest.mark.parametrize("tagged", [True, False])
def test_a_merge_that_only_moves_rows_records_what_the_merge_in_steps_records(
        database, clock, monkeypatch, tagged, enrolled_now):
    """On PostgreSQL a merge that moves no points, money or tier history is one statement
    (``patron.flows.merging_plain``): it moves the same rows and records the same merge,
    status and history as the merge in steps (which SQLite always takes). Told the merged
    member was ``enrolled_now``, it first tries the statement that moves identities and a
    referral only, which merges a member holding nothing else and writes nothing for one
    holding more (``tagged``), whom the full statement then merges."""
    shop = _shop(database, clock)
    now = shop.clock.now()

    def pair():
        a, b = shop.member(), shop.member()
        shop.db.transact(lambda conn: conn.execute(insert(member_tags), [
            dict(program_id=shop.program.id, member_id=member_id, tag=tag, source="manual",
                 added_by="test", added_at=now)
            for member_id, tag in ((a, "vip"), (b, "vip"), (b, "baker"))
            if member_id == a or tagged]))
        return a, b

    def merge_pair(a, b, reason):
        return shop.db.transact(lambda conn: merge_members(
            conn, shop.program, a, b, reason=reason, actor="admin:test", now=now,
            enrolled_now=enrolled_now))

    def made(merge_id, a, b):
        def read(conn):
            row = conn.execute(select(merges).where(merges.c.id == merge_id)).one()
            merged = member_row(conn, shop.program.id, b)
            [change] = conn.execute(select(member_status_changes).where(
                member_status_changes.c.member_id == b)).all()
            tags = sorted(conn.execute(select(member_tags.c.member_id, member_tags.c.tag).where(
                member_tags.c.member_id.in_([a, b]))).all())
            return dict(
                moved={**row.moved, "rows": {k: len(v) for k, v in row.moved["rows"].items()},
                       "points": {**row.moved["points"], "account_id": None}},
                merge=(row.state, row.reason, row.actor, row.source, row.created_at),
                member=(merged.status, merged.merged_into == a, merged.status_reason,
                        merged.status_changed_by, merged.status_changed_at),
                change=(change.status, change.previous_status, change.reason, change.actor,
                        change.created_at),
                tags=[(member_id == a, tag) for member_id, tag in tags])
        found = shop.db.read(read)
        return {k: v if k == "moved" else repr(v).replace(f"(merge {merge_id})", "(merge #)")
                .replace(f"member {a}", "member A") for k, v in found.items()}

    in_one_statement = []
    run_plain = merging_plain.plain_merge
    monkeypatch.setattr(merging_plain, "plain_merge", lambda *args, **kw: (
        in_one_statement.append(run_plain(*args, **kw)) or in_one_statement[-1]))
    plain, plain_ids = [], []
    for reason in ("same person", None):
        a, b = pair()
        with heard(hooks.MembersMerged) as heard_merges:
            merge_id = merge_pair(a, b, reason)
            assert merge_pair(a, b, reason) == merge_id  # the pair's merge, told once
        assert [h.merge_id for h in heard_merges] == [merge_id]
        plain.append(made(merge_id, a, b))
        plain_ids.append(merge_id)
    # PostgreSQL merged each pair in one statement, the enrolment's own first when it
    # could (a statement that did not merge returned None; so did the second ask's,
    # which found the pair merged)
    tries = [None] if enrolled_now else []
    first = [None] if enrolled_now and tagged else []
    assert in_one_statement == ([] if database.is_sqlite else [
        *first, plain_ids[0], *tries, None, *first, plain_ids[1], *tries, None])
    monkeypatch.setattr(merging, "_plain_merge", lambda *args, **kw: None)
    for reason, expected in zip(("same person", None), plain, strict=True):
        a, b = pair()
        assert made(merge_pair(a, b, reason), a, b) == expected
    assert "(merge #)" in plain[1]["member"] and "member A" in plain[1]["change"]
