"""Conditions give the same answer however little data is handed to CEL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patron.program.activation import compile_reads, event_value, member_value, variables
from patron.program.cel import CelSyntaxError, ConditionError, compile_condition, make_context
from patron.program.compiled import compile_program
from patron.program.context import EventContext, MemberContext, MemberProfile, parse_purchase
from tests.program.factories import T0, program, rule

CONDITIONS = [
    "event.data.total >= 5000 && member.purchase_count == 0",
    "event.data.lines.exists(l, l.category == 'beans' && l.amount > 100)",
    "size(event.data.lines) > 1 || event.data.lines[0].amount > 300",
    "has(event.data.coupon) && event.data.coupon.startsWith('X')",
    "member.profile.attributes.vip == true || member.tier == 'gold'",
    "event.local.weekday >= 6 && event.channel in ['web', 'app']",
    "member.is_birthday_month && member.profile.birth_month == event.local.month",
    "event.data.lines.map(l, l.quantity).exists(q, q >= 2)",
    "'pastry' in event.data.lines.map(l, l.category)",
    "event.data.lines.exists(event, event.sku == 'A') || event.data.total < 10",
    "event.data.store_id == '' ? member.purchase_count > 2 : event.data.total > 100",
    "member.profile.region.startsWith('E') && event.data.lines.all(l, l.net_amount <= l.amount)",
]

PROGRAM = compile_program(program(rule("base", points={"per_currency_unit": "1"})))


@dataclass
class Inputs:
    event: EventContext
    member: MemberContext
    local: datetime
    purchase: Any
    data_defaults: dict[str, Any] = field(default_factory=dict)
    counted_types: tuple[tuple[str, str], ...] = PROGRAM.counted_types


def outcome(evaluate: Any, context: Any) -> Any:
    try:
        return evaluate(context)
    except ConditionError:
        return "error"


lines = st.lists(st.fixed_dictionaries({
    "sku": st.sampled_from(["A", "B"]), "category": st.sampled_from(["beans", "pastry"]),
    "quantity": st.integers(1, 3), "amount": st.integers(1, 5000)}), min_size=1, max_size=3)


@settings(max_examples=150, deadline=None)
@given(lines=lines, discount=st.integers(0, 100),
       coupon=st.one_of(st.none(), st.text("XY", max_size=2)),
       purchases=st.integers(0, 3), tier=st.sampled_from([None, "gold"]),
       vip=st.sampled_from([None, True, False]), birthday=st.booleans(),
       channel=st.sampled_from([None, "web", "pos"]), days=st.integers(0, 6))
def test_flattened_conditions_agree_with_conditions_on_whole_maps(
        lines, discount, coupon, purchases, tier, vip, birthday, channel, days):
    total = max(sum(item["amount"] for item in lines) - discount, 0)
    data: dict[str, Any] = {"order_id": "o", "currency": "USD", "total": total, "lines": lines}
    if coupon is not None:
        data["coupon"] = coupon
    at = T0 + timedelta(days=days)
    profile = MemberProfile(birthdate=date(1990, 3, 1) if birthday else None, region="EU",
                            attributes={} if vip is None else {"vip": vip})
    inputs = Inputs(EventContext("purchase", at, data, channel, "e"),
                    MemberContext("m", profile, tier, {"purchase": purchases}),
                    at.astimezone(PROGRAM.zone), parse_purchase(data, "USD"),
                    PROGRAM.plans["purchase"].data_defaults)
    whole = make_context({"event": event_value(inputs), "member": member_value(inputs)})
    counted = {f: t for t, f in PROGRAM.counted_types}
    for source in CONDITIONS:
        condition = compile_condition(source)
        reads = compile_reads(condition.reads.only({"event", "member"}), counted)
        flat = make_context(variables(inputs, reads, condition.reads.nested))
        assert outcome(condition.evaluate, flat) == outcome(condition.evaluate_nested, whole), \
            source


def test_only_read_fields_are_handed_over():
    condition = compile_condition("event.data.lines.exists(l, l.category == 'beans') "
                                  "&& member.purchase_count == 0")
    assert condition.runtime.source == ("event__data__lines.exists(l, l.category == 'beans') "
                                        "&& member__purchase_count == 0")
    assert condition.reads.elements == {("event", "data", "lines"): {"*": {"category": None}}}


def test_text_inside_strings_is_not_rewritten():
    condition = compile_condition("event.channel == 'event.channel'")
    assert condition.runtime.source == "event__channel == 'event.channel'"


@pytest.mark.parametrize(("source", "position"), [
    ("event.data.total >= ", (1, 21)),
    ("member.tier == 'gold' &&& true", (1, 25)),
    ("event.channel ==\n  'web' ||", (2, 11)),
])
def test_syntax_errors_carry_line_and_column(source, position):
    with pytest.raises(CelSyntaxError) as caught:
        compile_condition(source)
    assert (caught.value.line, caught.value.column) == position
    assert str(caught.value).startswith(f"Syntax error at {position[0]}:{position[1]}: ")
