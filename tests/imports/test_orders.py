"""An order taken without its schema (``imports.orders.plain_order``) is one the schema
takes, with the same values: the check never says yes where ``PurchaseData`` says no."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from patron.events.schemas import PurchaseData
from patron.imports.orders import plain_order
from patron.schemas_common import MAX_MONEY

TEXTS = st.one_of(st.sampled_from(["", "a", "sku-1", "x" * 200, "x" * 201, "caf\u00e9",
                                   "a\x00b", "\ud800", " 7 "]), st.text(max_size=5))
NUMBERS = st.one_of(st.sampled_from([0, 1, -1, MAX_MONEY, MAX_MONEY + 1, 1_000_000,
                                     1_000_001, True, 1.0, "1"]), st.integers(-3, 3))
MAYBE = st.one_of(st.none(), TEXTS, NUMBERS)
LINE_FIELDS = {"sku": TEXTS, "department": MAYBE, "category": MAYBE, "subcategory": MAYBE,
               "brand": MAYBE, "quantity": NUMBERS, "amount": NUMBERS, "discount": MAYBE,
               "colour": TEXTS}
LINES = st.lists(st.fixed_dictionaries({}, optional=LINE_FIELDS), max_size=4)
ORDERS = st.fixed_dictionaries({}, optional={
    "order_id": TEXTS, "currency": st.sampled_from(["USD", "usd", "US", "USD\n", "ÉUR", 1]),
    "total": NUMBERS, "store_id": MAYBE, "discount": MAYBE, "coupon_value": MAYBE,
    "lines": st.one_of(LINES, st.just("lines")), "coupon_codes": st.just(["A"])})


def schema(data):
    try:
        return PurchaseData.model_validate(data).model_dump()
    except ValidationError:
        return None


def taken(data) -> dict:
    """The order as the bulk writer reads it: its data, the schema's defaults filled in."""
    line_defaults = {"department": None, "category": None, "subcategory": None, "brand": None,
                     "quantity": 1, "discount": None}
    return {"store_id": None, "discount": None, "coupon_value": None, "coupon_codes": None,
            **data, "lines": [{**line_defaults, **line} for line in data.get("lines", [])]}


@settings(max_examples=800, deadline=None)
@given(ORDERS)
def test_a_plain_order_is_one_the_schema_takes_as_it_is(data):
    expected = schema(data)
    if plain_order(data):
        assert expected is not None
        assert taken(data) == expected


def test_orders_a_csv_file_gives_are_plain():
    data = {"order_id": "b1", "currency": "USD", "total": 350, "store_id": "s1",
            "lines": [{"sku": "p1", "category": None, "quantity": 2, "amount": 150},
                      {"sku": "p2", "category": "tea", "brand": "Leaf", "quantity": 1,
                       "amount": 200, "discount": 20}]}
    assert plain_order(data) and taken(data) == schema(data)
    assert plain_order({"order_id": "b2", "currency": "USD", "total": 0})
    for refused in ({**data, "total": 351}, {**data, "currency": "usd"},
                    {**data, "lines": [{**data["lines"][0], "quantity": 0}]},
                    {**data, "lines": [{**data["lines"][0], "sku": "a\x00"}]},
                    {**data, "lines": [{**data["lines"][0], "amount": -1}]}):
        assert not plain_order(refused) and schema(refused) is None
