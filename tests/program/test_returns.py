"""Returns claw back per line and per rule, threshold bonuses included, never twice."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.program.returns import (
    LineAlreadyReturned,
    ReturnExceedsPurchase,
    ReturnLine,
    UnknownReturnLine,
    clawback_reason,
    plan_clawback,
    return_lines,
)
from patron.program.money import format_money
from tests.program.factories import demo, earn, line, member, program, purchase, rule


@pytest.fixture(scope="module")
def bought():
    """Two bags of beans ($24.50 each) and a $36 mug during the beans promotion
    (its points; the free mug the order also gets is in test_gifts)."""
    evaluation = earn(demo(), purchase(line("BEANS-1KG", 4900, "beans", quantity=2),
                                       line("MUG", 3600, "gear")), member(purchases=2))
    return tuple(a for a in evaluation.awards if a.kind != "gift"), evaluation.purchase


def claws(plan) -> list[tuple[str, int | None, int]]:
    return [(c.rule_id, c.line_index, c.points) for c in plan]


def test_what_was_earned(bought):
    awards, _ = bought
    assert [(a.rule_id, a.line_index, a.points) for a in awards] == [
        ("base_spend", 0, 49), ("base_spend", 1, 36), ("big_order", None, 100),
        ("beans_double", 0, 49)]


def test_partial_return_claws_back_each_rule_on_that_line(bought):
    awards, order = bought
    plan = plan_clawback(awards, order, [ReturnLine(0, 1)], {})
    assert claws(plan) == [("base_spend", 0, 24), ("beans_double", 0, 24)]
    assert plan[0].reason == "1 Bean per $1: returned 1 × BEANS-1KG"
    assert all(c.pending for c in plan)


def test_threshold_bonus_goes_when_the_order_drops_below_it(bought):
    awards, order = bought
    plan = plan_clawback(awards, order, [ReturnLine(1, 1)], {0: 1})  # $85 - $24.50 - $36
    assert claws(plan) == [("base_spend", 1, 36), ("big_order", None, 100)]
    assert plan[1].reason == "100 bonus Beans on orders of $50 or more: order now below $50.00"


def test_threshold_bonus_stays_while_the_order_still_reaches_it(bought):
    awards, order = bought
    plan = plan_clawback(awards, order, [ReturnLine(0, 1)], {})  # $60.50 left
    assert "big_order" not in {c.rule_id for c in plan}


def test_returns_in_steps_claw_back_exactly_what_was_earned(bought):
    awards, order = bought
    returned: dict[int, int] = {}
    total = 0
    for step in ([ReturnLine(0, 1)], [ReturnLine(1, 1)], [ReturnLine(0, 1)]):
        total += sum(c.points for c in plan_clawback(awards, order, step, returned))
        for item in step:
            returned[item.line_index] = returned.get(item.line_index, 0) + item.quantity
    assert total == sum(a.points for a in awards) == 234


def test_first_purchase_bonus_only_goes_with_the_whole_order():
    document = program(rule("base", points={"per_currency_unit": "1"}),
                       rule("first", when="member.purchase_count == 0", points={"fixed": 50}))
    evaluation = earn(document, purchase(line("A", 1000), line("B", 1000)), member(purchases=0))
    awards, order = evaluation.awards, evaluation.purchase
    assert claws(plan_clawback(awards, order, [ReturnLine(0, 1)], {})) == [("base", 0, 10)]
    assert claws(plan_clawback(awards, order, [ReturnLine(1, 1)], {0: 1})) == [
        ("base", 1, 10), ("first", None, 50)]


def test_multiplied_threshold_bonus_is_clawed_back_with_it():
    document = program(rule("base", points={"per_currency_unit": "1"}),
                       rule("big", min_spend=5000, points={"fixed": 100}),
                       rule("birthday", when="member.is_birthday_month",
                            points={"multiplier": "2"}))
    evaluation = earn(document, purchase(line("A", 3000), line("B", 3000)),
                      member(purchases=1, birthdate=date(1990, 3, 3)))
    plan = plan_clawback(evaluation.awards, evaluation.purchase, [ReturnLine(1, 1)], {})
    assert Counter({(c.rule_id, c.line_index): c.points for c in plan}) == Counter({
        ("base", 1): 30, ("big", None): 100, ("birthday", 1): 30, ("birthday", None): 100})


def test_errors_have_stable_codes(bought):
    awards, order = bought
    with pytest.raises(ReturnExceedsPurchase) as too_many:
        plan_clawback(awards, order, [ReturnLine(0, 3)], {})
    with pytest.raises(LineAlreadyReturned) as twice:
        plan_clawback(awards, order, [ReturnLine(1, 1)], {1: 1})
    with pytest.raises(UnknownReturnLine) as unknown:
        plan_clawback(awards, order, [ReturnLine(7, 1)], {})
    assert (too_many.value.code, twice.value.code, unknown.value.code) == (
        "return_exceeds_purchase", "line_already_returned", "unknown_return_line")
    assert too_many.value.detail == "returning 3 × BEANS-1KG but only 2 left on order order-1"
    assert (too_many.value.status, twice.value.status, unknown.value.status) == (409, 409, 422)


def test_return_event_lines_by_index_sku_or_whole_order(bought):
    _, order = bought
    assert return_lines({"lines": [{"sku": "MUG"}]}, order, {}) == [ReturnLine(1, 1)]
    assert return_lines({"lines": [{"line_index": 0, "quantity": 1}]}, order, {}) == [
        ReturnLine(0, 1)]
    assert return_lines({}, order, {0: 1}) == [ReturnLine(0, 1), ReturnLine(1, 1)]
    with pytest.raises(LineAlreadyReturned):
        return_lines({}, order, {0: 2, 1: 1})
    with pytest.raises(UnknownReturnLine):
        return_lines({"lines": [{"sku": "TEAPOT"}]}, order, {})


@given(quantities=st.lists(st.integers(1, 4), min_size=1, max_size=4),
       amounts=st.lists(st.integers(1, 9000), min_size=4, max_size=4),
       steps=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 4)), max_size=12))
def test_clawbacks_never_exceed_awards_and_sum_up_on_full_return(quantities, amounts, steps):
    document = program(rule("base", points={"per_currency_unit": "1.7"}),
                       rule("big", min_spend=8000, points={"fixed": 100}),
                       rule("bonus", when="member.purchase_count == 0", points={"fixed": 25}))
    lines = [line(f"SKU-{i}", amounts[i], quantity=q) for i, q in enumerate(quantities)]
    evaluation = earn(document, purchase(*lines), member(purchases=0))
    awards, order = evaluation.awards, evaluation.purchase
    returned = {i: 0 for i in range(len(lines))}
    clawed = 0
    for index, quantity in steps + [(i, q) for i, q in enumerate(quantities)]:
        left = quantities[index % len(lines)] - returned[index % len(lines)]
        if left == 0:
            continue
        step = [ReturnLine(index % len(lines), min(quantity, left))]
        plan = plan_clawback(awards, order, step, returned)
        assert all(c.points > 0 for c in plan)
        clawed += sum(c.points for c in plan)
        assert clawed <= evaluation.total_points
        returned[step[0].line_index] += step[0].quantity
    assert clawed == evaluation.total_points


def test_a_clawback_reads_what_was_taken_and_what_was_forgiven_or_owed():
    assert clawback_reason("Base: order returned", 10, forgiven=90) == (
        "Base: order returned: −10 (90 already spent, forgiven)")
    assert clawback_reason("Bonus: order returned", 0, forgiven=100) == (
        "Bonus: order returned: nothing taken back (100 already spent, forgiven)")
    assert clawback_reason("Base: returned 1 × LAT", 25, owed=5) == (
        "Base: returned 1 × LAT: −25 (5 owed, paid off by your next points)")
    assert clawback_reason("5% cashback: order returned", 1_00, forgiven=4_00,
                           amount=lambda cents: format_money(cents, "USD"),
                           paid_off_by="your next cashback") == (
        "5% cashback: order returned: −$1.00 ($4.00 already spent, forgiven)")
    assert clawback_reason("Base: order returned", 60) == "Base: order returned: −60"
