"""Earning arithmetic, attribution and what conditions can see."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron.program.context import (EventContext, InvalidEvent, MemberContext, MemberProfile,
                                    parse_purchase)
from patron.program.engine import evaluate
from patron.program.money import apportion
from tests.program.factories import T0, by_rule, earn, event, line, member, program, purchase, rule

MODES = {"floor": ROUND_FLOOR, "ceiling": ROUND_CEILING, "half_up": ROUND_HALF_UP,
         "half_even": ROUND_HALF_EVEN}


@pytest.mark.parametrize(("rate", "cents", "expected"), [
    ("0.5", 500, {"floor": 2, "ceiling": 3, "half_up": 3, "half_even": 2}),   # 2.5
    ("0.5", 700, {"floor": 3, "ceiling": 4, "half_up": 4, "half_even": 4}),   # 3.5
    ("1.5", 1033, {"floor": 15, "ceiling": 16, "half_up": 15, "half_even": 15}),  # 15.495
    ("2", 1000, {"floor": 20, "ceiling": 20, "half_up": 20, "half_even": 20}),
])
def test_rounding_modes(rate, cents, expected):
    for mode, points in expected.items():
        document = program(rule("spend", points={"per_currency_unit": rate, "rounding": mode}))
        assert earn(document, purchase(line("X", cents))).total_points == points, mode


def test_program_rounding_is_the_default():
    document = program(rule("spend", points={"per_currency_unit": "0.5"}), rounding="ceiling")
    assert earn(document, purchase(line("X", 500))).total_points == 3


@given(rate=st.decimals("0.01", "25", places=2), cents=st.lists(
    st.integers(0, 500_000), min_size=1, max_size=6), mode=st.sampled_from(sorted(MODES)))
def test_spend_points_match_decimal_arithmetic_and_lines_add_up(rate, cents, mode):
    document = program(rule("spend", points={"per_currency_unit": str(rate), "rounding": mode}))
    order = purchase(*(line(f"SKU-{i}", c) for i, c in enumerate(cents)))
    evaluation = earn(document, order)
    expected = int((Decimal(sum(cents)) / 100 * rate).quantize(Decimal(1), rounding=MODES[mode]))
    assert evaluation.total_points == expected
    assert sum(a.points for a in evaluation.awards) == expected
    assert all(a.points > 0 and a.line_index is not None for a in evaluation.awards)


def test_points_follow_what_was_paid_after_an_order_discount():
    document = program(rule("spend", points={"per_currency_unit": "1"}))
    order = purchase(line("A", 3000), line("B", 1000), total=2000)  # half off the order
    evaluation = earn(document, order)
    assert [(a.line_index, a.points) for a in evaluation.awards] == [(0, 15), (1, 5)]


def test_an_order_parsed_beforehand_earns_as_its_data_does():
    """The engine takes an order parsed beforehand (an import's parse does) in the
    program's currency; one parsed in another currency is parsed again, and refused as
    the data is."""
    document = program(rule("spend", points={"per_currency_unit": "1"}))
    order = purchase(line("A", 3000), line("B", 1000), total=2000)
    parsed = parse_purchase(order.data, "USD")
    assert earn(document, order._replace(purchase=parsed)) == earn(document, order)
    elsewhere = parse_purchase({**order.data, "currency": "EUR"}, "EUR")
    with pytest.raises(InvalidEvent, match="program earns in"):
        earn(document, order._replace(data={**order.data, "currency": "EUR"},
                                      purchase=elsewhere))


def test_currency_without_minor_units():
    document = program(rule("spend", points={"per_currency_unit": "0.01"}), currency="JPY")
    evaluation = earn(document, EventContext("purchase", T0, {
        "order_id": "jp-1", "currency": "JPY", "total": 1234,
        "lines": [{"sku": "MATCHA", "amount": 1234}]}))
    assert evaluation.total_points == 12


def test_order_without_lines_earns_on_its_total():
    document = program(rule("spend", points={"per_currency_unit": "1"}))
    evaluation = earn(document, EventContext("purchase", T0, {"order_id": "o", "total": 2599}))
    assert [(a.line_index, a.points) for a in evaluation.awards] == [(0, 25)]


@pytest.mark.parametrize("data", [
    {"total": 100},
    {"order_id": "o", "total": -5},
    {"order_id": "o", "total": 10.5},
    {"order_id": "o", "total": 100, "currency": "EUR"},
    {"order_id": "o", "total": 900, "lines": [{"sku": "A", "amount": 100}]},
    {"order_id": "o", "total": 100, "lines": [{"sku": "A", "amount": 100, "quantity": 0}]},
])
def test_purchase_data_that_cannot_earn_is_rejected_with_a_code(data):
    document = program(rule("spend", points={"per_currency_unit": "1"}))
    with pytest.raises(InvalidEvent) as caught:
        earn(document, EventContext("purchase", T0, data))
    assert caught.value.code == "invalid_event"
    assert caught.value.problem()["status"] == 422


def test_purchase_points_pending_behaviour_points_not():
    document = program(rule("spend", points={"per_currency_unit": "1"}),
                       rule("instant", points={"fixed": 5}, pending=False),
                       rule("review", on="review"))
    bought = earn(document, purchase(line("A", 1000)))
    assert {t.rule_id: t.pending for t in bought.totals} == {"spend": True, "instant": False}
    assert bought.pending_points == 10
    assert earn(document, event("review")).totals[0].pending is False


def test_no_pending_when_the_program_has_no_return_window():
    document = program(rule("spend", points={"per_currency_unit": "1"}), pending_days=0)
    assert earn(document, purchase(line("A", 1000))).pending_points == 0


def test_only_rules_for_the_event_type_and_active_ones_run():
    document = program(rule("review", on="review", points={"fixed": 20}),
                       rule("off", on="review", points={"fixed": 99}, active=False),
                       rule("spend", points={"per_currency_unit": "1"}))
    assert by_rule(earn(document, event("review"))) == {"review": 20}
    assert earn(document, event("check_in")).totals == ()


def test_custom_event_type_with_declared_fields_and_counts():
    document = program(
        rule("workshop", on="workshop_attended", points={"fixed": 30},
             when="event.data.minutes >= 60 && member.workshop_attended_count < 3"),
        event_types=[{"name": "workshop_attended", "fields": {"minutes": "int"}}])
    regular = MemberContext("m", MemberProfile(), None, {"workshop_attended": 3})
    assert earn(document, event("workshop_attended", minutes=90)).total_points == 30
    assert earn(document, event("workshop_attended", minutes=30)).total_points == 0
    assert earn(document, event("workshop_attended", minutes=90), regular).total_points == 0


def test_missing_declared_fields_read_as_zero_values():
    document = program(rule("photo", on="review", when="!event.data.has_photo"))
    assert earn(document, event("review")).total_points == 10


def test_condition_on_an_absent_attribute_does_not_match_and_is_no_error():
    document = program(rule("vip", on="check_in", when="member.profile.attributes.vip == true"))
    vip = MemberContext("m", MemberProfile(attributes={"vip": True}))
    assert earn(document, event("check_in"), vip).total_points == 10
    evaluation = earn(document, event("check_in"), member())
    assert evaluation.total_points == 0
    assert evaluation.notes == ()  # absent is not broken: no error on every event


def test_an_absent_attribute_reads_as_absent_wherever_the_condition_reads_it():
    document = program(
        rule("vip_or_gold", on="check_in", when="member.profile.attributes.vip == true "
                                                "|| member.tier == 'gold'"),
        rule("not_vip", on="check_in", when="!(member.profile.attributes.vip == true)"),
        rule("indexed", on="check_in", when="member.profile.attributes['vip'] == true"),
        rule("deep", on="check_in", when="member.profile.attributes.prefs.milk == 'oat'"),
        rule("guarded", on="check_in", when="!has(member.profile.attributes.vip) "
                                            "|| member.profile.attributes.vip == false"))
    gold = MemberContext("m", MemberProfile(attributes={"prefs": {}}), "gold")
    evaluation = earn(document, event("check_in"), gold)
    assert by_rule(evaluation) == {"vip_or_gold": 10, "guarded": 10}
    assert evaluation.notes == ()


def test_a_condition_error_names_fields_as_written_never_internal_names():
    document = program(rule("loyal", on="check_in", when="member.profile.attributes.since < 5"))
    odd = MemberContext("m", MemberProfile(attributes={"since": date(2020, 1, 1)}))
    [note] = earn(document, event("check_in"), odd).notes
    assert note.code == "condition_error"
    assert "member.profile.attributes.since" in note.message
    assert "__" not in note.message


def test_conditions_see_tier_region_channel_and_local_time():
    document = program(rule("gold_web_weekend", when=(
        "member.tier == 'gold' && member.profile.region == 'EU' && event.channel == 'web' "
        "&& event.local.weekday == 5 && event.local.hour == 11")))
    gold = MemberContext("m", MemberProfile(region="EU"), "gold")
    assert earn(document, purchase(channel="web"), gold).total_points == 10  # Fri 11:00 NY
    assert earn(document, purchase(channel="pos"), gold).total_points == 0


def test_conditions_can_look_at_the_lines_of_an_order():
    document = program(rule("pastry", points={"fixed": 15},
                            when="event.data.lines.exists(l, l.category == 'pastry')"))
    assert earn(document, purchase(line("A", 100), line("C", 300, "pastry"))).total_points == 15
    assert earn(document, purchase(line("A", 100))).total_points == 0


def test_per_line_rule_with_a_line_condition():
    document = program(rule("big_cups", scope="line", points={"fixed": 3},
                            when="line.sku.startsWith('MUG') && line.quantity >= 2"))
    order = purchase(line("MUG-1", 800, quantity=2), line("MUG-2", 400), line("LATTE", 500))
    evaluation = earn(document, order)
    assert [(a.line_index, a.points) for a in evaluation.awards] == [(0, 3)]
    assert evaluation.awards[0].explanation == "Big Cups: +3 (MUG-1)"


def test_explanation_template():
    document = program(rule("bday", on="check_in", points={"fixed": 40},
                            explain="Happy birthday! +{points} {points_name}"),
                       points_name="Beans")
    assert earn(document, event("check_in")).explanations() == ["Happy birthday! +40 Beans"]


def test_evaluation_carries_version_and_time():
    document = program(rule("spend", points={"per_currency_unit": "1"}))
    evaluation = evaluate(document, 7, purchase(), member(birthdate=date(1990, 1, 1)), now=T0)
    assert (evaluation.program_version, evaluation.evaluated_at) == (7, T0)
    assert evaluation.purchase is not None and evaluation.purchase.order_id == "order-1"


def test_event_time_must_be_timezone_aware():
    document = program(rule("spend", points={"per_currency_unit": "1"}))
    with pytest.raises(InvalidEvent):
        earn(document, EventContext("check_in", T0.replace(tzinfo=None)))


def test_a_value_cel_cannot_read_only_fails_the_conditions_that_read_it():
    document = program(rule("loyal", on="check_in", when="member.profile.attributes.since < 5"),
                       rule("always", on="check_in", when="member.purchase_count >= 0"))
    odd = MemberContext("m", MemberProfile(attributes={"since": date(2020, 1, 1)}))
    evaluation = earn(document, event("check_in"), odd)
    assert by_rule(evaluation) == {"always": 10}
    assert [n.code for n in evaluation.notes] == ["condition_error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10_000) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["order_id", "total", "lines", "sku", "amount", "quantity",
                         "category", "currency", "rating"]), children, max_size=4),
    max_leaves=12)


@given(data=st.dictionaries(st.sampled_from(["order_id", "total", "lines", "currency",
                                             "store_id", "rating"]), json_values, max_size=5),
       event_type=st.sampled_from(["purchase", "review", "return"]))
def test_any_event_data_earns_or_is_rejected_cleanly(data, event_type):
    document = program(rule("spend", points={"per_currency_unit": "1"}),
                       rule("big", when="event.data.total >= 1000"),
                       rule("store", when="event.data.store_id.startsWith('NY')"),
                       rule("beans", lines={"categories": ["beans"]}, points={"multiplier": "2"}),
                       rule("rated", on="review", when="event.data.rating >= 4"))
    try:
        evaluation = earn(document, EventContext(event_type, T0, data))
    except InvalidEvent:
        return
    assert all(a.points > 0 for a in evaluation.awards)


@given(st.lists(st.integers(min_value=0, max_value=10**9), max_size=12),
       st.integers(min_value=0, max_value=10**6))
def test_an_order_total_is_shared_out_over_its_lines_exactly(weights, taken_off):
    """``apportion``: the parts sum to the total, an order with nothing taken off gives
    each line its own amount, and a discount is shared by weight, ties to the earlier."""
    total = max(sum(weights) - taken_off, 0)
    shares = apportion(total, weights)
    assert len(shares) == len(weights)
    if weights:
        assert sum(shares) == total
    if total == sum(weights):
        assert shares == weights
    elif sum(weights):
        for share, weight in zip(shares, weights, strict=True):
            exact = Decimal(total) * weight / sum(weights)
            assert exact - 1 < share < exact + 1


def test_apportion_gives_ties_to_the_earlier_line():
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(5, [2, 3]) == [2, 3]
    assert apportion(0, [0, 0]) == [0, 0]
