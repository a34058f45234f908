"""Deterministic rules: pure evaluation over two members' match profiles."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from patron.matching.normalise import blocking_keys, exact_key, postcode_key
from patron.matching.rules import MatchProfile, decide
from patron.program.document import Matching

SECTION = Matching.model_validate({
    "auto_merge": [{"name": "name_and_birthdate",
                    "fields": ["given_name", "family_name", "birthdate"]},
                   {"name": "phone_and_birthdate", "fields": ["phone", "birthdate"]}],
    "suggest": [{"name": "family_birthdate_postcode",
                 "fields": ["family_name", "birthdate", "postcode"]},
                {"name": "email_and_postcode", "fields": ["email", "postcode"]}]})


def profile(member_id: int, identities=(), **fields) -> MatchProfile:
    row = dict(given_name=None, family_name=None, birthdate=None, gender=None,
               address_line1=None, city=None, postcode=None, attributes={})
    row.update(fields)
    return MatchProfile.from_rows(
        SimpleNamespace(id=member_id, **row),
        [SimpleNamespace(type=kind, value=value) for kind, value in identities])


def test_names_compare_on_ascii_lower_case_keys_without_spaces_or_punctuation():
    assert exact_key("  Zoë   O'Brien ") == exact_key("zoe obrien") == "zoeobrien"
    assert exact_key("Smith-Jones") == exact_key("smith  jones") == "smithjones"
    assert exact_key("Straße") == "strasse"
    assert exact_key("   ") is None and exact_key(None) is None
    assert postcode_key("SW1A 1AA") == postcode_key("sw1a-1aa") == "SW1A1AA"
    assert blocking_keys("Müller-Lüdenscheidt", "10 115") == ("mullerludenscheidt", "10115")
    assert blocking_keys("x" * 150, None) == ("x" * 100, None)


def test_same_names_and_birthdate_merge_with_evidence_per_field():
    new = profile(7, given_name="Zoë", family_name="O'Brien", birthdate=date(1990, 5, 1))
    old = profile(3, given_name="zoe", family_name="OBRIEN", birthdate=date(1990, 5, 1))
    decision = decide(SECTION, new, old)
    assert (decision.action, decision.rule) == ("auto_merge", "name_and_birthdate")
    assert decision.evidence["given_name"] == {"agrees": True, "key": "zoe",
                                               "values": {"7": "Zoë", "3": "zoe"}}
    assert decision.evidence["family_name"]["key"] == "obrien"
    assert decision.evidence["birthdate"] == {"agrees": True, "key": "19900501",
                                              "values": {"7": "1990-05-01", "3": "1990-05-01"}}
    assert set(decision.evidence) == {"given_name", "family_name", "birthdate"}


def test_a_different_given_name_only_suggests_on_family_birthdate_and_postcode():
    new = profile(2, given_name="Ann", family_name="Lee", birthdate=date(1980, 1, 2),
                  postcode="sw1a 1aa")
    old = profile(1, given_name="Anna", family_name="Lee", birthdate=date(1980, 1, 2),
                  postcode="SW1A1AA")
    decision = decide(SECTION, new, old)
    assert (decision.action, decision.rule) == ("suggest", "family_birthdate_postcode")
    assert decision.evidence["postcode"]["values"] == {"2": "sw1a 1aa", "1": "SW1A1AA"}


def test_missing_fields_never_agree():
    new = profile(2, given_name="Ann", family_name="Lee")
    old = profile(1, given_name="Ann", family_name="Lee")
    assert decide(SECTION, new, old) is None


def test_an_identity_agrees_with_the_same_value_in_the_other_records_attributes():
    new = profile(5, identities=[("phone", "+14155550123")], birthdate=date(1975, 3, 3))
    imported = profile(4, birthdate=date(1975, 3, 3),
                       attributes={"phone": "(415) 555-0123", "email": "not an email"})
    decision = decide(SECTION, new, imported)
    assert (decision.action, decision.rule) == ("auto_merge", "phone_and_birthdate")
    assert decision.evidence["phone"]["values"] == {"5": "+14155550123", "4": "(415) 555-0123"}
    assert imported.keys("email") == {}  # an unusable attribute is not a key
    assert new.keys("phone") == {"+14155550123": "+14155550123"}


def test_auto_merge_rules_win_over_suggest_rules_and_order_is_kept():
    both = dict(given_name="Li", family_name="Wu", birthdate=date(2000, 2, 29), postcode="1000")
    decision = decide(SECTION, profile(2, **both), profile(1, **both))
    assert decision.rule == "name_and_birthdate"
    assert decide(Matching(), profile(2, **both), profile(1, **both)) is None


LATIN = st.text(st.characters(codec="latin-1"), max_size=30)


@given(LATIN, LATIN)
def test_keys_ignore_case_and_spacing(a, b):
    text = f"{a} {b}"
    assert exact_key(text) == exact_key(text.upper().replace(" ", "  "))
    key = exact_key(text)
    assert key is None or (" " not in key and key.isascii())
