"""Match keys: pure functions, no database."""

from datetime import date

from patron.matching import normalise
from patron.matching.records import MatchRecord


def test_names_are_transliterated_lower_cased_and_stripped_of_punctuation():
    assert normalise.name_key("  Zoë  ") == "zoe"
    assert normalise.name_key("O'Brien") == normalise.name_key("o brien") == "o brien"
    assert normalise.name_key("Jean-Luc") == "jean luc"
    assert normalise.name_key("Łódź") == "lodz"
    assert normalise.name_key("Müller") == "muller"
    assert normalise.name_key("张伟") == "zhangwei"


def test_a_name_of_only_punctuation_or_spaces_says_nothing():
    assert normalise.name_key(" - ") is None
    assert normalise.name_key("") is None
    assert normalise.name_key(None) is None


def test_postcodes_lose_spaces_and_case():
    assert normalise.postcode_key("sw1a 1aa") == "SW1A1AA"
    assert normalise.postcode_key(" 2000 ") == "2000"
    assert normalise.postcode_key(None) is None


def test_address_key_tokens_and_street_number():
    assert normalise.address_key("12 High St.", "Flat 3") == "12 high st flat 3"
    assert normalise.address_tokens("12 High St", None) == normalise.address_tokens("High St 12")
    assert normalise.street_number("Flat 3, 12 High St") == "3"
    assert normalise.street_number("007 Bond Rd") == "7"
    assert normalise.street_number("The Old Mill") is None
    assert normalise.address_key(None, "  ") is None
    assert normalise.street_key("12 High St", "Unit 3b") == "high st unit"
    assert normalise.street_key("12", None) is None


def test_birthdates_become_digits_and_parts():
    assert normalise.birthdate_key(date(1980, 2, 9)) == "19800209"
    assert normalise.birthdate_key("1980-02-09") == "19800209"
    assert normalise.birthdate_key("1980") is None
    assert normalise.birthdate_parts(date(1980, 2, 9)) == ("1980", "02", "09")
    assert normalise.birthdate_parts(None) is None


def test_gender_and_country():
    assert normalise.gender_key("Female") == "f"
    assert normalise.gender_key("M") == "m"
    assert normalise.gender_key("unknown") is None
    assert normalise.country_key(" au ") == "AU"


def test_match_record_from_member_and_identity_rows():
    member = {"id": 7, "given_name": "Zoë", "family_name": "O'Brien", "birthdate": date(1990, 5, 1),
              "gender": "female", "address_line1": "12 High St", "address_line2": None,
              "city": "Sydney", "postcode": "2000 ", "state": "NSW", "country": "au"}
    ids = [{"type": "email", "value": "zoe@example.com"},
           {"type": "phone", "value": "+61255550100"},
           {"type": "card", "value": "C-9"}, {"type": "external_id", "value": "shop:42"}]
    record = MatchRecord.from_rows(member, ids)
    assert record == MatchRecord(
        member_id=7, given_name="zoe", family_name="o brien", birthdate="19900501", gender="f",
        street_number="12", address="high st", postcode="2000", city="sydney", state="nsw",
        country="AU", emails=("zoe@example.com",), phones=("+61255550100",),
        external_ids=("C-9", "shop:42"))
    row = record.as_row()
    assert row["external_id"] == "C-9" and row["external_ids"] == ["C-9", "shop:42"]
    assert row["birth_year"] == "1990"


def test_a_member_with_only_a_full_name_is_split_into_given_and_family():
    record = MatchRecord.from_rows({"id": 1, "name": "Ana María Pérez"}, [])
    assert (record.given_name, record.family_name) == ("ana maria", "perez")
    assert record.emails == () and record.as_row()["emails"] is None
