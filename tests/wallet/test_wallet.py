"""Cashback into the wallet, spends at checkout and clawbacks on returns, on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from patron.flows import jobs
from patron.wallet.service import (InsufficientFunds, WalletMove, pending_total, spend,
                                   take_back, totals, wallet)
from patron.wallet.tables import wallet_accounts
from tests.concurrency import race
from tests.flows.test_ingest import BASE, Shop, rule

CASHBACK = rule("cashback", "purchase", {"cashback_percent": "2.5"}, name="2.5% cashback")
LINES = [("LAT", "drinks", 1, 10_00), ("BNS", "beans", 2, 50_00)]


def balance(shop, member):
    return shop.db.read(lambda conn: wallet(conn, shop.program, member))["balance"]


def pay(shop, member, amount, key):
    return shop.db.transact(lambda conn: spend(conn, shop.program, member, amount=amount,
                                               order_id=f"o-{key}", key=key, actor="test",
                                               now=shop.clock.now()))


def test_cashback_is_credited_and_explained(database, clock):
    shop = Shop(database, clock, [BASE, CASHBACK])
    member = shop.member()
    [bought] = shop.send(shop.purchase(member, LINES))
    assert bought.points == 60
    [award] = [a for a in bought.awards if a.kind == "cashback"]
    assert (award.amount, award.reason) == (150, "2.5% cashback: +$1.50")
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert view["balance"] == 150 and view["entries"][0]["kind"] == "cashback"
    assert shop.balance(member).available == 60


def test_spends_are_guarded_and_idempotent(database, clock):
    shop = Shop(database, clock, [CASHBACK])
    member = shop.member()
    shop.send(shop.purchase(member, [("BIG", "", 1, 400_00)]))
    assert balance(shop, member) == 10_00
    results: list[str] = []
    paid: list[str] = []
    barrier = threading.Barrier(8)

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            pay(shop, member, 3_00, f"k{n}")
            results.append("ok")
            paid.append(f"k{n}")
        except InsufficientFunds:
            results.append("short")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] * 3 + ["short"] * 5
    assert balance(shop, member) == 1_00
    again = pay(shop, member, 3_00, paid[0])
    assert again["balance"] == 1_00 and again["entries"][0]["amount"] == -3_00


def test_a_return_takes_the_cashback_back(database, clock):
    shop = Shop(database, clock, [BASE, CASHBACK])
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="W-1"))
    [back] = shop.send(shop.event(member, "return", {"order_id": "W-1",
                                                     "lines": [{"sku": "BNS", "quantity": 1}]}))
    cash = [a for a in back.awards if a.kind == "reverse" and a.amount]
    assert [a.amount for a in cash] == [-62]
    assert balance(shop, member) == 150 - 62


def test_spent_cashback_is_forgiven_or_owed_by_the_program_setting(database, clock):
    shop = Shop(database, clock, [CASHBACK])
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="W-2"))
    pay(shop, member, 1_00, "spent")
    [back] = shop.send(shop.event(member, "return", {"order_id": "W-2"}))
    assert [(a.amount, a.forgiven) for a in back.awards] == [(-50, 1_00)]
    assert back.awards[0].reason.endswith(": −$0.50 ($1.00 already spent, forgiven)")
    assert balance(shop, member) == 0
    owing = Shop(database, clock, [CASHBACK], negative_balance="allow_negative")
    other = owing.member()
    owing.send(owing.purchase(other, LINES, order_id="W-3"))
    pay(owing, other, 1_00, "spent-2")
    owing.send(owing.event(other, "return", {"order_id": "W-3"}))
    assert balance(owing, other) == -1_00
    with pytest.raises(InsufficientFunds):
        pay(owing, other, 1, "more")


def test_take_back_is_all_or_nothing_even_where_balances_may_go_negative(database, clock):
    shop = Shop(database, clock, [CASHBACK], negative_balance="allow_negative")
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="W-4"))
    pay(shop, member, 1_00, "spent-3")

    def take(amount: int, key: str) -> int:
        move = WalletMove(member, amount, "reverse", key, "Cancelled: cashback", clock.now(),
                          "test")
        return database.transact(lambda conn: take_back(conn, shop.program, move, clock.now()))
    with pytest.raises(InsufficientFunds) as refused:
        take(51, "too-much")
    assert (refused.value.status, refused.value.extra) == (409, {"available": 50,
                                                                  "requested": 51})
    assert balance(shop, member) == 50
    take(50, "all-of-it")
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert view["balance"] == 0
    assert [(e["kind"], e["amount"]) for e in view["entries"]] == [
        ("reverse", -50), ("spend", -1_00), ("cashback", 1_50)]
    account_id = database.read(lambda conn: conn.execute(
        select(wallet_accounts.c.id).where(wallet_accounts.c.program_id == shop.program.id,
                                           wallet_accounts.c.member_id == member)).scalar_one())
    assert database.read(lambda conn: totals(conn, account_id)) == 0


FIVE = rule("five", "purchase", {"cashback_percent": "5"}, name="5% cashback")


def test_cashback_waits_out_the_return_window_and_a_return_takes_it_all(database, clock):
    shop = Shop(database, clock, [FIVE], pending_days=14)
    member = shop.member()
    [bought] = shop.send(shop.purchase(member, [("TV", "", 1, 100_00)], order_id="C-1"))
    [award] = bought.awards
    assert (award.amount, award.status) == (5_00, "pending")
    assert award.available_at == clock.now() + timedelta(days=14)
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert (view["balance"], view["pending"]) == (0, 5_00)
    assert [(e["kind"], e["status"], e["amount"]) for e in view["entries"]] == [
        ("cashback", "pending", 5_00)]
    with pytest.raises(InsufficientFunds):
        pay(shop, member, 4_00, "too-soon")
    [back] = shop.send(shop.event(member, "return", {"order_id": "C-1"}))
    [reverse] = back.awards
    assert (reverse.amount, reverse.status, reverse.forgiven) == (-5_00, "pending", None)
    assert reverse.reason == "5% cashback: returned 1 × TV: −$5.00"
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert (view["balance"], view["pending"]) == (0, 0)
    clock.advance(days=15)
    jobs.run_all(database, clock.now())
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert (view["balance"], view["pending"]) == (0, 0)
    assert balance_from_entries(shop, member) == (0, 0)


def test_the_scheduled_sweep_releases_what_a_partial_return_left(database, clock):
    shop = Shop(database, clock, [FIVE], pending_days=14, negative_balance="allow_negative")
    member = shop.member()
    shop.send(shop.purchase(member, [("TV", "", 1, 60_00), ("BOX", "", 1, 40_00)],
                            order_id="C-2"))
    shop.send(shop.event(member, "return", {"order_id": "C-2", "lines": [{"sku": "BOX"}]}))
    clock.advance(days=13)
    jobs.run_all(database, clock.now())
    assert balance(shop, member) == 0
    clock.advance(days=2)
    assert jobs.run_all(database, clock.now())["cashback_release"]["amount"] >= 3_00
    again = jobs.run_all(database, clock.now())["cashback_release"]
    assert again == {"accounts": 0, "holds": 0, "amount": 0}
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert (view["balance"], view["pending"]) == (3_00, 0)
    assert view["entries"][0]["kind"] == "release" and view["entries"][0]["amount"] == 3_00
    assert balance_from_entries(shop, member) == (3_00, 0)
    pay(shop, member, 3_00, "now")
    [back] = shop.send(shop.event(member, "return", {"order_id": "C-2"}))
    assert [a.amount for a in back.awards] == [-3_00]
    assert "owed" in back.awards[0].reason
    assert balance(shop, member) == -3_00


def test_a_return_says_how_much_cashback_it_took_and_how_much_it_forgave(database, clock):
    shop = Shop(database, clock, [FIVE], pending_days=14)
    member = shop.member()
    shop.send(shop.purchase(member, [("TV", "", 1, 100_00)], order_id="C-3"))
    clock.advance(days=15)
    jobs.run_all(database, clock.now())
    pay(shop, member, 4_00, "spent-4")
    [back] = shop.send(shop.event(member, "return", {"order_id": "C-3"}))
    [reverse] = back.awards
    assert (reverse.amount, reverse.forgiven, reverse.status) == (-1_00, 4_00, "posted")
    assert reverse.reason == "5% cashback: returned 1 × TV: −$1.00 ($4.00 already spent, forgiven)"
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert view["balance"] == 0
    assert (view["entries"][0]["amount"], view["entries"][0]["reason"]) == (-1_00,
                                                                            reverse.reason)


def test_a_release_and_a_return_at_once_never_free_the_same_cent_twice(database, clock):
    shop = Shop(database, clock, [FIVE], pending_days=14)
    member = shop.member()
    shop.send(shop.purchase(member, [("TV", "", 1, 100_00)], order_id="C-4"))
    clock.advance(days=15)
    returning = shop.event(member, "return", {"order_id": "C-4"})
    steps = [lambda: jobs.run_all(database, clock.now()), lambda: shop.send(returning)]
    assert race(2, lambda n: steps[n]()) == {"ok": 2}
    view = database.read(lambda conn: wallet(conn, shop.program, member))
    assert (view["balance"], view["pending"]) == (0, 0)
    assert balance_from_entries(shop, member) == (0, 0)


def balance_from_entries(shop, member):
    def read(conn):
        account = conn.execute(select(wallet_accounts).where(
            wallet_accounts.c.program_id == shop.program.id,
            wallet_accounts.c.member_id == member)).one()
        return totals(conn, account.id), pending_total(conn, account.id)
    return shop.db.read(read)
