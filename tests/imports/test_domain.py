"""CSV rows into API payloads: mappings, money, times (pure)."""

from __future__ import annotations

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
                       ["type=purchase"], money="major", time_format="%Y%m%d", id_prefix="cd now")
    row = {"customer": "42", "date": "19970101", "spend": "29.33", "category": "jazz"}
    payload = domain.event_payload(row, 7, m, USD_NY)
    assert payload["id"] == "cd_now:7"
    assert payload["member"] == {"identity": {"type": "external_id", "value": "42"}}
    assert payload["data"] == {"order_id": "cd_now:7", "currency": "USD", "total": 2933,
                               "lines": [{"sku": "jazz", "category": "jazz", "quantity": 1,
                                          "amount": 2933}]}
    review = domain.event_payload({"type": "review", "member_id": "3", "occurred_at":
                                   "2024-01-01", "data.stars": "5"}, 2, domain.ColumnMap(),
                                  USD_NY)
    assert review["member"] == {"id": 3} and review["data"] == {"stars": "5"}


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
