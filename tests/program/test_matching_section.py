"""The program document's ``matching`` section: rules, thresholds and their problems."""

from __future__ import annotations

from patron.program.document import Matching
from patron.program.validate import validate_document, validate_text
from tests.program.factories import DEMO


def problems_of(matching) -> list[str]:
    _, problems = validate_document({"name": "P", "matching": matching})
    return [str(p) for p in problems]


def test_defaults_keep_every_identity_unique_and_merge_nothing():
    section = Matching()
    assert section.unique_identities == ["email", "phone", "external_id", "card"]
    assert section.auto_merge == [] and section.suggest == []
    assert (section.auto_merge_probability, section.suggest_probability) == (0.99, 0.9)
    assert section.on_enrolment is True


def test_demo_program_declares_rules():
    document, problems = validate_text(DEMO.read_text(), DEMO.name)
    assert problems == []
    names = [(kind, rule.name) for kind, rule in document.matching.rules()]
    assert names[0] == ("auto_merge", "name_and_birthdate")
    assert ("suggest", "family_birthdate_postcode") in names


def test_a_valid_section_has_no_problems():
    assert problems_of({"auto_merge": [{"name": "nb", "fields": ["given_name", "family_name",
                                                                  "birthdate"]}],
                        "suggest": [{"name": "fbp", "fields": ["family_name", "birthdate",
                                                               "postcode"]}],
                        "auto_merge_probability": "0.995", "suggest_probability": 0.8}) == []


def test_unknown_field_is_named_at_its_path():
    [problem] = problems_of({"suggest": [{"name": "x", "fields": ["birthdate", "surname"]}]})
    assert problem.startswith("matching.suggest[0].fields[1]: must be 'email', 'phone'")


def test_empty_rule_and_repeated_field():
    found = problems_of({"auto_merge": [{"name": "empty", "fields": []},
                                        {"name": "twice", "fields": ["birthdate", "birthdate"]}]})
    assert found == ["matching.auto_merge[0]: a rule needs at least one field",
                     "matching.auto_merge[1]: a field is listed twice"]


def test_thresholds_out_of_range():
    found = problems_of({"auto_merge_probability": "1.5", "suggest_probability": 0})
    assert found == ["matching.auto_merge_probability: must be <= 1.0",
                     "matching.suggest_probability: must be > 0.0"]


def test_suggest_threshold_above_auto_merge():
    [problem] = problems_of({"auto_merge_probability": 0.9, "suggest_probability": 0.95})
    assert problem == ("matching.suggest_probability: 0.95 is above auto_merge_probability "
                       "(0.9): every pair worth suggesting would already be merged")


def test_duplicate_names_weak_rules_and_rules_enrolment_cannot_block():
    found = problems_of({
        "auto_merge": [{"name": "place", "fields": ["city", "postcode", "gender"]}],
        "suggest": [{"name": "place", "fields": ["given_name", "family_name"]},
                    {"name": "where", "fields": ["given_name", "city", "postcode"]}]})
    assert found == [
        "matching.auto_merge[0].fields: matches many different people: add family_name, "
        "birthdate or an identity field",
        "matching.suggest[0].name: duplicate rule name 'place'",
        "warning: matching.suggest[0].fields: not checked when a member enrols: a rule needs "
        "birthdate or postcode to find look-alikes by index",
        "warning: matching.suggest[1].fields: matches many different people: add family_name, "
        "birthdate or an identity field"]


def test_every_identity_type_stays_unique():
    [problem] = problems_of({"unique_identities": ["email", "phone"]})
    assert problem.startswith("matching.unique_identities: external_id, card: every identity "
                              "type is unique per program")


def test_unknown_key_in_section_suggests_the_right_one():
    [problem] = problems_of({"auto_merge_probabilty": 0.99})
    assert problem == ("matching.auto_merge_probabilty: unknown key 'auto_merge_probabilty'; "
                       "did you mean 'auto_merge_probability'?")
