"""Member imports take the profile fields worth matching on, cleaned as the API cleans them."""

from __future__ import annotations

import json

from patron.imports import domain, service
from patron.members import repository as member_repository
from patron.members.service import get_member
from tests.imports.test_domain import USD_NY


def test_a_csv_row_maps_names_gender_and_address_columns():
    payload, _ = domain.member_payload(
        {"mail": "a@x.com", "given_name": "Ann", "family_name": "Lee", "gender": "F",
         "address_line1": "1 Main St", "city": "Leeds", "postcode": "ls1 4ap",
         "country": "gb"}, domain.mapping("member", ["email=mail"]), USD_NY)
    assert payload["profile"] == {
        "given_name": "Ann", "family_name": "Lee", "gender": "F",
        "address": {"line1": "1 Main St", "city": "Leeds", "postcode": "ls1 4ap",
                    "country": "gb"}}


def test_imported_profiles_are_cleaned_and_bad_values_rejected(database, program, clock,
                                                               tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("mail,first,last,sex,street,town,zip,state,country\n"
                    "ann@example.com,  Ann ,Lee,female,12  High St,Surry Hills,20 10,NSW,au\n"
                    "bob@example.com,Bob,,male,,,,,Australia\n"
                    "cy@example.com,Cy,,robot,,,,,\n")
    columns = domain.mapping("member", ["email=mail", "given_name=first", "family_name=last",
                                        "gender=sex", "address_line1=street", "city=town",
                                        "postcode=zip"])
    source = service.Source(service.read_records(path, "csv"), "csv", columns)
    done = service.import_members(database, program, source, now=clock.now,
                                  rejects_path=tmp_path / "rejects.jsonl")
    assert (done.imported, done.rejected) == (1, 2)
    owner = database.read(lambda conn: member_repository.members_by_identity(
        conn, program.id, [("email", "ann@example.com")]))[("email", "ann@example.com")]
    ann = database.read(lambda conn: get_member(conn, program, owner)).profile
    assert (ann.name, ann.given_name, ann.family_name, ann.gender) == (
        "Ann Lee", "Ann", "Lee", "female")
    assert (ann.address.line1, ann.address.city, ann.address.postcode, ann.address.state,
            ann.address.country) == ("12 High St", "Surry Hills", "2010", "NSW", "AU")
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["code"]) for r in rejects] == [(3, "validation_error"),
                                                         (4, "validation_error")]
    assert "country" in rejects[0]["detail"] and "gender" in rejects[1]["detail"]
