"""Refunds of money alone (a shop that does not say which lines it refunded), on SQLite
and PostgreSQL: points taken back pro rata to the money, refunds adding up, each
refund once, never more than the order earned."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.program.context import Line, Purchase
from patron.program.returns import Clawback, plan_refund
from tests.flows.test_ingest import BASE, BIG, Shop, rule
from tests.flows.test_returns import LINES


def refunded(shop, member, order_id, amount=None, lines=None, event_id=None):
    data = {"order_id": order_id}
    if amount is not None:
        data["amount"] = amount
    if lines is not None:
        data["lines"] = lines
    event = shop.event(member, "return", data)
    if event_id is not None:
        event["id"] = event_id
    [outcome] = shop.send(event)
    return outcome


def by_rule(outcome):
    return {a.rule_id: a.points for a in outcome.awards}


def test_refunds_of_money_take_back_points_pro_rata_and_add_up(database, clock):
    shop = Shop(database, clock, [BASE, BIG])
    member = shop.member()
    [bought] = shop.send(shop.purchase(member, LINES, order_id="M-1"))
    assert bought.points == 60 + 100
    tenth = refunded(shop, member, "M-1", 6_00, event_id=f"refund-{shop.program.id}-1")
    assert tenth.status == "processed", tenth.error
    assert by_rule(tenth) == {"base": -6}  # a tenth of 10 and of 50; $54 still earns "big"
    assert "refunded $6.00 of $60.00" in tenth.awards[0].reason
    again = refunded(shop, member, "M-1", 6_00, event_id=f"refund-{shop.program.id}-1")
    assert again.status == "duplicate" and shop.balance(member).available == 154
    second = refunded(shop, member, "M-1", 6_00)
    assert by_rule(second) == {"base": -6, "big": -100}  # $48 left: below $50
    assert "order now below $50.00" in next(a.reason for a in second.awards
                                            if a.rule_id == "big")
    rest = refunded(shop, member, "M-1")  # a return naming nothing refunds what is left
    assert by_rule(rest) == {"base": -48}
    account = shop.balance(member)
    assert (account.available, account.lifetime_earned) == (0, 0)
    more = refunded(shop, member, "M-1", 1)
    assert more.status == "rejected" and more.error["code"] == "line_already_returned"


def test_a_refund_never_takes_more_than_the_order_and_is_one_kind_of_return(database, clock):
    shop = Shop(database, clock, [BASE])
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="M-2"),
              shop.purchase(member, LINES, order_id="M-3"))
    too_much = refunded(shop, member, "M-2", 60_01)
    assert too_much.error["code"] == "refund_exceeds_purchase"
    assert too_much.error["status"] == 409
    assert refunded(shop, member, "M-2", 30_00).points == -30
    by_lines = refunded(shop, member, "M-2", lines=[{"line_index": 0}])
    assert by_lines.error["code"] == "order_refunded_by_amount"
    assert refunded(shop, member, "M-3", lines=[{"line_index": 0}]).points == -10
    by_money = refunded(shop, member, "M-3", 5_00)
    assert by_money.error["code"] == "order_returned_by_lines"
    assert shop.balance(member).available == 120 - 30 - 10


def test_lines_and_amount_together_are_refused_as_bad_input(database, clock):
    shop = Shop(database, clock, [BASE])
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="M-4"))
    both = refunded(shop, member, "M-4", 5_00, lines=[{"line_index": 0}])
    assert both.status == "rejected" and both.error["status"] == 422
    zero = refunded(shop, member, "M-4", 0)
    assert zero.status == "rejected" and zero.error["status"] == 422
    assert shop.balance(member).available == 60


def test_an_order_level_bonus_goes_back_only_when_the_order_is_refunded_in_full(
        database, clock):
    first = rule("first", "purchase", {"fixed": 50}, when="member.purchase_count == 0")
    shop = Shop(database, clock, [BASE, first])
    member = shop.member()
    shop.send(shop.purchase(member, LINES, order_id="M-5"))
    assert by_rule(refunded(shop, member, "M-5", 59_99)) == {"base": -58}
    assert by_rule(refunded(shop, member, "M-5", 1)) == {"base": -2, "first": -50}
    assert shop.balance(member).available == 0


ORDER = Purchase("o", "USD", 60_00, (Line(0, "A", "", 1, 10_00, 10_00),
                                     Line(1, "B", "", 2, 50_00, 50_00)))


class Piece:
    def __init__(self, rule_id, points, line_index=None, min_spend=None):
        self.rule_id, self.rule_name, self.points = rule_id, rule_id, points
        self.pending, self.line_index, self.min_spend = False, line_index, min_spend


PIECES = [Piece("a", 7, 0), Piece("b", 53, 1), Piece("c", 100, None, 5000), Piece("d", 9)]


@given(st.lists(st.integers(min_value=1, max_value=60_00), min_size=1, max_size=8))
def test_refunds_in_any_steps_take_back_what_one_full_refund_would(steps):
    taken: dict[str, int] = {}
    done = 0
    for step in steps:
        step = min(step, ORDER.total - done)
        if step <= 0:
            break
        plan: list[Clawback] = plan_refund(PIECES, ORDER, done, done + step)
        for clawback in plan:
            taken[clawback.rule_id] = taken.get(clawback.rule_id, 0) + clawback.points
        done += step
        assert all(taken.get(p.rule_id, 0) <= p.points for p in PIECES)
    whole = {c.rule_id: c.points for c in plan_refund(PIECES, ORDER, 0, done)}
    assert taken == {k: v for k, v in whole.items() if v}
    if done == ORDER.total:
        assert taken == {p.rule_id: p.points for p in PIECES}


@pytest.mark.parametrize("refunded_so_far, expected", [(0, 0), (30_00, 26), (60_00, 53)])
def test_a_line_award_keeps_its_share_of_what_is_still_paid(refunded_so_far, expected):
    plan = plan_refund([PIECES[1]], ORDER, 0, refunded_so_far)
    assert sum(c.points for c in plan) == expected
