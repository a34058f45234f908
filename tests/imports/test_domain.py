"""CSV rows into API payloads: mappings, money, times (pure)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from patron.imports import domain
from patron.imports.domain import InvalidMapping, InvalidRow, Locale

USD_NY = Locale("USD", 2, "America/New_York")


def test_mapping_refuses_unknown_fields_and_malformed_pairs():
    with pytest.raises(InvalidMapping, match="not a event field"):
        domain.mapping("event", ["amount=total"])
    with pytest.raises(InvalidMapping, match="FIELD=VALUE"):
        domain.mapping("event", ["total"])
    assert domain.mapping("member", ["attributes.tier=old_tier"]).columns == {
        "attributes.tier": "old_tier"}


def test_check_columns_names_what_is_missing():
    m = domain.mapping("event", ["total=amount"])
    with pytest.raises(InvalidMapping, match="amount"):
        domain.check_columns(["when", "who"], m, "event")
    with pytest.raises(InvalidMapping, match="occurred_at, type, member_id or external_id"):
        domain.check_columns(["amount"], m, "event")
    domain.check_columns(["amount", "occurred_at", "email"],
                         domain.mapping("event", ["total=amount"], ["type=purchase"]), "event")


def test_money_in_major_or_minor_units_must_be_exact():
    assert domain.parse_money("29.33", "major", 2) == 2933
    assert domain.parse_money("1,250.5", "major", 2) == 125050
    assert domain.parse_money("2933", "minor", 2) == 2933
    with pytest.raises(InvalidRow, match="more than 2 decimals"):
        domain.parse_money("1.005", "major", 2)
    with pytest.raises(InvalidRow, match="not whole minor units"):
        domain.parse_money("12.5", "minor", 2)
    with pytest.raises(InvalidRow, match="not a number"):
        domain.parse_money("ten", "major", 2)


def test_times_without_offset_are_in_the_programs_timezone():
    assert domain.parse_time("19970101", "%Y%m%d", "America/New_York") == datetime(
        1997, 1, 1, 5, tzinfo=UTC)
    assert domain.parse_time("2024-05-01T12:00:00Z", None, "America/New_York") == datetime(
        2024, 5, 1, 12, tzinfo=UTC)
    with pytest.raises(InvalidRow, match="%Y%m%d"):
        domain.parse_time("1997-01-01", "%Y%m%d", "UTC")


def test_event_payload_of_a_purchase_row():
    m = domain.mapping("event", ["external_id=customer", "occurred_at=date", "total=spend"],
                       ["type=purchase"], money="major", time_format="%Y%m%d")
    row = {"customer": "42", "date": "19970101", "spend": "29.33", "category": "jazz"}
    repeats: Counter[str] = Counter()
    payload = domain.event_payload([row], m, USD_NY, repeats)
    assert re.fullmatch(r"csv:[0-9a-f]{32}", payload["id"])
    assert payload["member"] == {"identity": {"type": "external_id", "value": "42"}}
    assert payload["data"] == {"order_id": payload["id"], "currency": "USD", "total": 2933,
                               "lines": [{"sku": "jazz", "category": "jazz", "quantity": 1,
                                          "amount": 2933}]}
    # the same purchase again in the file is another purchase; in another file, the same
    assert domain.event_payload([row], m, USD_NY, repeats)["id"] == payload["id"] + ":2"
    assert domain.event_payload([row], m, USD_NY, Counter())["id"] == payload["id"]
    assert domain.event_payload([row | {"spend": "29.34"}], m, USD_NY,
                                Counter())["id"] != payload["id"]
    review = domain.event_payload([{"type": "review", "member_id": "3", "occurred_at":
                                    "2024-01-01", "data.stars": "5"}], domain.ColumnMap(),
                                  USD_NY)
    assert review["member"] == {"id": 3} and review["data"] == {"stars": "5"}


def test_rows_of_one_order_are_one_purchase_with_lines():
    m = domain.mapping("event", ["order_id=order", "external_id=customer", "occurred_at=when",
                                 "line.sku=sku", "line.quantity=qty", "line.amount=price"],
                       ["type=purchase"], money="major")
    rows = [{"order": "A 1", "customer": "42", "when": "2024-01-01", "sku": "X", "qty": "2",
             "price": "10.00"},
            {"order": "A 1", "customer": "42", "when": "2024-01-01", "sku": "Y", "qty": "",
             "price": "2.50"}]
    assert domain.order_key(rows[0], m) == (None, "A 1")
    payload = domain.event_payload(rows, m, USD_NY)
    assert payload["id"] == domain.order_event_id("A 1") != "order:A 1"
    assert domain.order_event_id("A1") == "order:A1"
    assert payload["data"] == {"order_id": "A 1", "currency": "USD", "total": 1250, "lines": [
        {"sku": "X", "category": None, "quantity": 2, "amount": 1000},
        {"sku": "Y", "category": None, "quantity": 1, "amount": 250}]}
    with pytest.raises(InvalidRow, match="differ in external_id"):
        domain.event_payload([rows[0], rows[1] | {"customer": "43"}], m, USD_NY)
    with pytest.raises(InvalidRow, match="each row's line.amount"):
        domain.event_payload([rows[0], rows[1] | {"price": ""}], m, USD_NY)
    review = {"type": "review", "order_id": "A1", "occurred_at": "2024-01-01", "email": "a@x"}
    assert domain.order_key(review, domain.ColumnMap()) is None


def test_member_payload_with_consents_attributes_and_join_date():
    m = domain.mapping("member", ["email=mail", "attributes.tier=old_tier"])
    payload, joined = domain.member_payload(
        {"mail": "A@x.com", "name": "Ann", "birthdate": "1990-05-01", "old_tier": "gold",
         "consents.email_marketing": "yes", "joined_at": "2019-03-01"}, m, USD_NY)
    assert payload == {"identities": [{"type": "email", "value": "A@x.com"}],
                       "profile": {"name": "Ann", "birthdate": date(1990, 5, 1),
                                   "attributes": {"tier": "gold"}},
                       "consents": {"email_marketing": True}}
    assert joined == datetime(2019, 3, 1, 5, tzinfo=UTC)
    with pytest.raises(InvalidRow, match="no identity"):
        domain.member_payload({"name": "Nobody"}, m, USD_NY)


def test_birthdates_are_read_with_the_date_format_not_the_time_format():
    m = domain.mapping("member", time_format="%Y%m%d")
    payload, joined = domain.member_payload(
        {"email": "a@x.com", "birthdate": "1990-05-01", "joined_at": "20190301"}, m, USD_NY)
    assert payload["profile"]["birthdate"] == date(1990, 5, 1)
    assert joined == datetime(2019, 3, 1, 5, tzinfo=UTC)
    dmy = domain.mapping("member", date_format="%d/%m/%Y")
    payload, _ = domain.member_payload({"email": "a@x.com", "birthdate": "24/12/1985"}, dmy,
                                       USD_NY)
    assert payload["profile"]["birthdate"] == date(1985, 12, 24)
    with pytest.raises(InvalidRow, match="%d/%m/%Y"):
        domain.member_payload({"email": "a@x.com", "birthdate": "1985-12-24"}, dmy, USD_NY)


def test_money_read_without_decimal_agrees_with_decimal():
    """Whole numbers and plain decimals are read as integers; everything else as before."""
    from decimal import Decimal
    for text in ("0", "007", "12", "12.5", "12.50", "12.505", "1,234.56", "1.", ".5", "-3",
                 "+3", "1_000", "1e3", "١٢", "²", "12.0", "3.14159", " 4"):
        for unit, exponent in (("major", 2), ("major", 0), ("minor", 2)):
            try:
                amount = Decimal(text.replace(",", "") if unit == "major" else text)
                minor = amount.scaleb(exponent) if unit == "major" else amount
                expected = int(minor) if minor == minor.to_integral_value() else None
            except Exception:
                expected = None
            try:
                got = domain.parse_money(text, unit, exponent)
            except InvalidRow:
                got = None
            assert got == expected, (text, unit, exponent)
            try:  # the reader of a file's every amount reads it alike
                read = domain.money_reader(unit, exponent)(text, "line.amount")
            except InvalidRow:
                read = None
            assert read == expected, (text, unit, exponent)


@pytest.mark.parametrize("maps,sets", [
    (["line.sku=product", "line.amount=price"], ["line.category=food"]),
    (["line.amount=price", "line.discount=off", "brand=maker"], []),
    ([], ["line.quantity=2"]),
])
def test_an_orders_line_columns_read_as_each_column_does(maps, sets):
    m = domain.mapping("event", maps, sets)
    header = {"product": None, "price": None, "sku": None, "off": None, "maker": None,
              "line.quantity": None, "category": None}
    rows = [header | {"product": " p1 ", "sku": "s", "price": "1.50", "off": "", "maker": "M"},
            header | {"product": "", "sku": "s2", "price": "2", "category": " dairy "},
            header | {"sku": "s3", "line.quantity": " 3 "},
            header | {"product": 17, "price": "4"}]
    for found in (rows[:3], rows, rows[1:2]):
        assert m.line_columns(found) == [m.column(found, *names)
                                         for names in domain.LINE_SOURCES]


def test_a_column_of_an_orders_rows_reads_as_first_reads_each_row():
    m = domain.mapping("event", ["line.sku=product"], ["line.category=food"])
    rows = [{"product": " p1 ", "sku": "s"}, {"product": "", "sku": "s2"}, {"product": None},
            {"product": 17}]
    for names in (("line.sku", "sku"), ("line.category", "category"), ("sku",),
                  ("line.amount",)):
        assert m.column(rows, *names) == [m.first(row, *names) for row in rows]


@pytest.mark.parametrize("maps,sets", [
    (["order_id=basket"], ["type=purchase"]),
    (["order_id=basket", "id=ref"], [" type = purchase "]),
    (["order_id=basket"], ["type=review"]),
    (["order_id=basket", "type=kind"], []),
    (["type=kind"], ["order_id=B1"]),
    (["order_id=basket"], ["type=purchase", "id=fixed"]),
    ([], []),
])
def test_a_files_order_keys_are_each_rows_order_key(maps, sets):
    m = domain.mapping("event", maps, sets)
    rows = [{"basket": " B1 ", "ref": "r1", "kind": "purchase", "order_id": "o", "id": "i",
             "type": "purchase"},
            {"basket": "", "ref": " ", "kind": "review"},
            {"basket": None, "ref": None, "kind": None},
            {"basket": 17, "ref": 4, "kind": " purchase "},
            {"basket": "B2", "kind": "purchase"}]
    key_of = domain.order_keys(m)
    assert [key_of(row) for row in rows] == [domain.order_key(row, m) for row in rows]
