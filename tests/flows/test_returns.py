"""Returns through ingest, on SQLite and PostgreSQL: per line and per rule, pending
first, never twice, and the negative-balance setting when points were spent."""

from __future__ import annotations

from patron.flows.statement import ledger_page
from patron.ledger.service import spend_points
from tests.flows.test_ingest import BASE, BIG, Shop, rule

LINES = [("LAT", "drinks", 1, 10_00), ("BNS", "beans", 2, 50_00)]


def returned(shop, member, order_id, lines=None):
    data = {"order_id": order_id}
    if lines is not None:
        data["lines"] = lines
    [outcome] = shop.send(shop.event(member, "return", data))
    return outcome


def test_return_of_a_line_takes_back_its_points_and_the_missed_threshold(database, clock):
    shop = Shop(database, clock, [BASE, BIG], pending_days=14)
    member = shop.member()
    [bought] = shop.send(shop.purchase(member, LINES, order_id="R-1"))
    assert bought.points == 60 + 100 and shop.balance(member).pending == 160
    one_bean = returned(shop, member, "R-1", [{"sku": "BNS", "quantity": 1}])
    assert one_bean.status == "processed", one_bean.error
    assert {a.rule_id: a.points for a in one_bean.awards} == {"base": -25, "big": -100}
    assert all(a.status == "pending" for a in one_bean.awards)
    assert "order now below $50.00" in next(a.reason for a in one_bean.awards
                                            if a.rule_id == "big")
    account = shop.balance(member)
    assert (account.pending, account.available, account.lifetime_earned) == (35, 0, 35)
    rest = returned(shop, member, "R-1")
    assert {a.rule_id: a.points for a in rest.awards} == {"base": -35}
    assert shop.balance(member).pending == 0


def test_a_line_cannot_be_returned_twice_nor_more_than_bought(database, clock):
    shop = Shop(database, clock, [BASE])
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="R-2"))
    assert returned(shop, member, "R-2", [{"line_index": 0}]).status == "processed"
    again = returned(shop, member, "R-2", [{"line_index": 0}])
    assert again.status == "rejected" and again.error["code"] == "line_already_returned"
    too_many = returned(shop, member, "R-2", [{"sku": "BNS", "quantity": 3}])
    assert too_many.error["code"] == "return_exceeds_purchase"
    unknown = returned(shop, member, "NOPE")
    assert unknown.error["code"] == "return_of_unknown_order" and unknown.error["status"] == 404
    no_line = returned(shop, member, "R-2", [{"line_index": 9}])
    assert no_line.error["code"] == "unknown_return_line"
    other = shop.member()
    assert returned(shop, other, "R-2").error["code"] == "return_member_mismatch"
    assert shop.balance(member).available == 50


def test_purchase_and_its_return_in_one_batch(database, clock):
    shop = Shop(database, clock, [BASE])
    member = shop.member()
    bought, back = shop.send(shop.purchase(member, LINES, order_id="R-3"),
                             shop.event(member, "return", {"order_id": "R-3"}))
    assert (bought.points, back.points) == (60, -60)
    assert shop.balance(member).available == 0


def test_spent_points_are_forgiven_when_the_program_claws_back_only_what_is_left(
        database, clock):
    shop = Shop(database, clock, [BASE], negative_balance="clawback_available_only")
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="R-4"))
    database.transact(lambda conn: spend_points(conn, shop.program, member, points=45,
                                                reason="coffee", key="s-1", actor="test",
                                                now=clock.now()))
    back = returned(shop, member, "R-4")
    [award] = back.awards
    assert (back.points, award.points, award.forgiven) == (-15, -15, 45)
    assert award.reason.endswith("returned 2 × BNS: −15 (45 already spent, forgiven)")
    account = shop.balance(member)
    assert (account.available, account.lifetime_earned) == (0, 0)
    [entry] = [e for e in entries(shop, member) if e.kind == "reverse"]
    assert (entry.points, entry.reason) == (-15, award.reason)


def entries(shop, member):
    return shop.db.read(lambda conn: ledger_page(conn, shop.program, member, None, 50)).items


def test_a_return_of_points_all_spent_takes_nothing_and_says_it_forgave_them(database, clock):
    shop = Shop(database, clock, [BASE, BIG], negative_balance="clawback_available_only")
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="A-1"))
    database.transact(lambda conn: spend_points(conn, shop.program, member, points=150,
                                                reason="mug", key="s-all", actor="test",
                                                now=clock.now()))
    back = returned(shop, member, "A-1")
    assert back.points == -10 and shop.balance(member).available == 0
    assert {a.rule_id: (a.points, a.forgiven) for a in back.awards} == {
        "base": (-10, 50), "big": (0, 100)}
    reasons = {a.rule_id: a.reason for a in back.awards}
    assert reasons["base"].endswith(": −10 (50 already spent, forgiven)")
    assert reasons["big"] == ("Big order bonus: order now below $50.00: nothing taken back "
                              "(100 already spent, forgiven)")
    reverses = [e for e in entries(shop, member) if e.kind == "reverse"]
    assert sorted(e.points for e in reverses) == [-10, 0]
    assert all("−0" not in e.reason and "−100" not in e.reason for e in reverses)


def test_negative_balance_is_paid_off_by_later_earnings(database, clock):
    shop = Shop(database, clock, [BASE], negative_balance="allow_negative")
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="R-5"))
    database.transact(lambda conn: spend_points(conn, shop.program, member, points=50,
                                                reason="mug", key="s-2", actor="test",
                                                now=clock.now()))
    back = returned(shop, member, "R-5")
    assert "50 owed" in back.awards[0].reason
    assert shop.balance(member).available == -50
    shop.send(shop.purchase(member, [("LAT", "drinks", 1, 30_00)]))
    assert shop.balance(member).available == -20
    shop.send(shop.purchase(member, [("LAT", "drinks", 1, 25_00)]))
    assert shop.balance(member).available == 5
    database.transact(lambda conn: spend_points(conn, shop.program, member, points=5,
                                                reason="tea", key="s-3", actor="test",
                                                now=clock.now()))
    assert shop.balance(member).available == 0


def test_returned_first_order_takes_back_order_level_bonus(database, clock):
    first = rule("first", "purchase", {"fixed": 50}, when="member.purchase_count == 0")
    shop = Shop(database, clock, [BASE, first])
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="R-6"))
    part = returned(shop, member, "R-6", [{"line_index": 0}])
    assert {a.rule_id: a.points for a in part.awards} == {"base": -10}
    rest = returned(shop, member, "R-6")
    assert {a.rule_id: a.points for a in rest.awards} == {"base": -50, "first": -50}
    assert shop.balance(member).available == 0


def test_released_points_pay_off_what_is_owed(database, clock):
    from patron.ledger import jobs

    shop = Shop(database, clock, [BASE], pending_days=14, negative_balance="allow_negative")
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="R-7"))
    clock.advance(days=15)
    jobs.run_all(database, clock.now())
    database.transact(lambda conn: spend_points(conn, shop.program, member, points=60,
                                                reason="gift", key="s-4", actor="test",
                                                now=clock.now()))
    shop.send(shop.purchase(member, [("LAT", "drinks", 1, 30_00)]))
    returned(shop, member, "R-7")
    account = shop.balance(member)
    assert (account.available, account.pending) == (-60, 30)
    clock.advance(days=15)
    jobs.run_all(database, clock.now())
    assert shop.balance(member).available == -30
