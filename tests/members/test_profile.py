"""Profile fields worth matching on: cleaned per field, taken by POST and PATCH, shown by GET."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from patron.members.profile import (clean_country, clean_gender, clean_postcode, collapse,
                                    with_display_name)
from tests.factories import member_payload


def test_cleaning_is_per_field():
    assert collapse("  Mary \t Ann  ") == "Mary Ann"
    assert clean_postcode(" sw1a 1aa ") == "SW1A1AA"
    assert clean_country(" au ") == "AU"
    assert clean_gender(" Female ") == "female"
    for bad in ("XX", "AUS", "12"):
        with pytest.raises(ValueError):
            clean_country(bad)
    with pytest.raises(ValueError):
        clean_gender("f")
    with pytest.raises(ValueError):
        clean_postcode("12#4")


def test_display_name_is_composed_only_when_none_was_typed():
    assert with_display_name({"given_name": "Ann", "family_name": "Lee"})["name"] == "Ann Lee"
    assert with_display_name({"name": "Annie", "given_name": "Ann"})["name"] == "Annie"
    composed = SimpleNamespace(name="Ann Lee", given_name="Ann", family_name="Lee")
    assert with_display_name({"family_name": "Park"}, composed)["name"] == "Ann Park"
    typed = SimpleNamespace(name="Annie", given_name="Ann", family_name="Lee")
    assert "name" not in with_display_name({"family_name": "Park"}, typed)
    assert with_display_name({"name": None}, typed)["name"] == "Ann Lee"


def test_post_cleans_and_get_returns_the_profile(api):
    created = api.post("/members", json=member_payload(profile={
        "given_name": "  Mary   Ann ", "family_name": "O'Brien", "gender": "FEMALE",
        "birthdate": "1984-07-09",
        "address": {"line1": " 12  High   St ", "city": "Surry  Hills", "postcode": "2010 ",
                    "state": "NSW", "country": "au"}}))
    assert created.status_code == 201, created.text
    profile = api.get(f"/members/{created.json()['id']}").json()["profile"]
    assert profile["name"] == "Mary Ann O'Brien"
    assert (profile["given_name"], profile["family_name"]) == ("Mary Ann", "O'Brien")
    assert profile["gender"] == "female" and profile["birthdate"] == "1984-07-09"
    assert profile["address"] == {"line1": "12 High St", "line2": None, "city": "Surry Hills",
                                  "postcode": "2010", "state": "NSW", "country": "AU"}


def test_patch_changes_only_the_parts_sent(api):
    member = api.post("/members", json=member_payload(profile={
        "name": "Bo", "gender": "male",
        "address": {"line1": "1 Main St", "city": "Leeds", "postcode": "ls1 4ap",
                    "country": "GB"}})).json()
    patched = api.patch(f"/members/{member['id']}", json={"profile": {
        "family_name": "Smith", "address": {"line2": "Flat 3", "postcode": "LS2  7EW"}}})
    assert patched.status_code == 200, patched.text
    profile = patched.json()["profile"]
    assert profile["name"] == "Bo" and profile["gender"] == "male"
    assert profile["family_name"] == "Smith"
    assert profile["address"] == {"line1": "1 Main St", "line2": "Flat 3", "city": "Leeds",
                                  "postcode": "LS27EW", "state": None, "country": "GB"}
    cleared = api.patch(f"/members/{member['id']}", json={"profile": {"address": None,
                                                                      "gender": None}})
    assert cleared.json()["profile"]["address"] is None
    assert cleared.json()["profile"]["gender"] is None


@pytest.mark.parametrize("profile, field", [
    ({"gender": "woman"}, "gender"),
    ({"address": {"country": "UK"}}, "country"),
    ({"address": {"country": "Australia"}}, "country"),
    ({"address": {"postcode": "AB#1"}}, "postcode"),
    ({"given_name": "   "}, "given_name"),
    ({"address": {"street": "1 Main St"}}, "street"),
])
def test_bad_profile_fields_are_422_naming_the_field(api, profile, field):
    response = api.post("/members", json=member_payload(profile=profile))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert field in response.text
    member = api.post("/members", json=member_payload()).json()
    patched = api.patch(f"/members/{member['id']}", json={"profile": profile})
    assert patched.status_code == 422


def test_patch_of_an_unknown_member_is_404(api):
    response = api.patch("/members/987654321", json={"profile": {"gender": "other"}})
    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"
