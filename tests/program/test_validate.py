"""``patron program validate``: every problem at once, as ``path: message``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from patron.program.document import program_json_schema, program_json_schema_text
from patron.program.validate import load_document, main, validate_document, validate_text
from tests.program.factories import DEMO, rule

SPEND = {"per_currency_unit": "1"}


def problems_of(*rules, **extra) -> list[str]:
    data = {"name": "P", "settings": {"currency": "USD", "timezone": "Europe/Paris"},
            "earn_rules": list(rules), **extra}
    _, problems = validate_document(data)
    return [str(p) for p in problems]


def test_demo_program_is_valid():
    document, problems = validate_text(DEMO.read_text(), DEMO.name)
    assert problems == []
    assert document is not None and document.name == "Demo Coffee Rewards"
    assert len(document.earn_rules) == 13
    assert document.tiers is not None and [t.id for t in document.tiers.levels] == [
        "green", "silver", "gold"]
    assert document.coupons and document.memberships and document.households.pooled_points


def test_cel_syntax_error_has_rule_path_and_position():
    found = problems_of(rule("base", points=SPEND), rule("x", when="event.data.total >= "))
    assert len(found) == 1
    assert found[0].startswith("earn_rules[1].when: Syntax error at 1:21: mismatched input "
                               "'<EOF>'")


def test_schema_errors_use_document_paths():
    found = problems_of(rule("base", points=SPEND),
                        rule("zero", points={"per_currency_unit": "0"}),
                        rule("both", points={"fixed": 5, "multiplier": "2"}),
                        rule("BAD ID"),
                        {"id": "nameless", "on": "purchase", "points": {"fixed": 1}})
    assert found == [
        "earn_rules[1].points.per_currency_unit: must be > 0",
        "earn_rules[2].points: give exactly one of per_currency_unit, fixed, multiplier, benefit_multiplier, cashback_percent, gift",
        "earn_rules[3].id: 'BAD ID' must be lower-case letters, digits, '_' or '-'",
        "earn_rules[4].name: required",
    ]


def test_every_problem_in_every_rule_is_listed_in_document_order():
    found = problems_of(
        rule("a", on="revew"),
        rule("b", when="event.data.totl > 5", exclusiv=True),
        rule("a", points={"fixed": -1}),
        rule("c", when="member.purchase_count +"))
    assert [f.split(":")[0] for f in found] == [
        "earn_rules[0].on", "earn_rules[1].when", "earn_rules[1].exclusiv", "earn_rules[2].id",
        "earn_rules[2].points.fixed", "earn_rules[3].when"]
    assert found[0] == ("earn_rules[0].on: unknown event type 'revew'; did you mean 'review'? "
                        "(declare custom types under event_types)")
    assert found[1] == ("earn_rules[1].when: unknown field event.data.totl for purchase events; "
                        "did you mean event.data.total?")
    assert found[2] == "earn_rules[1].exclusiv: unknown key 'exclusiv'; did you mean 'exclusive'?"
    assert found[3] == ("earn_rules[2].id: duplicate id 'a' (also earn_rules[0]); awards and "
                        "reports refer to rules by id")


def test_settings_are_checked():
    _, problems = validate_document({"name": "P", "settings": {
        "currency": "USX", "timezone": "Mars/Olympus", "rounding": "bankers",
        "point_value_minor": "-1", "expiry": {"days": 0}}})
    assert [str(p) for p in problems] == [
        "settings.currency: unknown ISO-4217 currency 'USX'",
        "settings.timezone: unknown IANA timezone 'Mars/Olympus' (e.g. Europe/Paris)",
        "settings.point_value_minor: must be >= 0",
        "settings.expiry.days: must be >= 1",
        "settings.rounding: must be 'floor', 'ceiling', 'half_up' or 'half_even'",
    ]


def test_conditions_are_type_checked_against_a_sample_event():
    found = problems_of(
        rule("double", when="event.data.total + 1.5 > 100"),
        rule("not_bool", when="event.data.total * 2"),
        rule("branch", when="member.purchase_count > 0 || event.data.store_id > 5"),
        rule("func", when="max(event.data.total, 5) > 1"),
        rule("var", when="evnt.data.total > 1"),
        rule("nope", on="review", when="event.data.rating.stars > 3"))
    assert found == [
        "earn_rules[0].when: type error: No such overload: the operation is not defined for the "
        "given operand types (CEL never mixes int and double: money is in integer minor units, "
        "e.g. 5000 for 50.00)",
        "warning: earn_rules[0].when: compares event.data.total; use min_spend instead so a "
        "return that takes the order below it claws the bonus back",
        "earn_rules[1].when: type error: must be a true/false condition, got int",
        "warning: earn_rules[1].when: compares event.data.total; use min_spend instead so a "
        "return that takes the order below it claws the bonus back",
        "earn_rules[2].when: type error in `event.data.store_id > 5`: No such overload: the "
        "operation is not defined for the given operand types",
        "earn_rules[3].when: unknown function 'max'()",
        "warning: earn_rules[3].when: compares event.data.total; use min_spend instead so a "
        "return that takes the order below it claws the bonus back",
        "earn_rules[4].when: unknown variable 'evnt'; conditions read event and member",
        "earn_rules[5].when: event.data.rating is an int; it has no field 'stars'",
    ]


def test_line_is_only_for_per_line_rules():
    assert problems_of(rule("x", when="line.sku == 'A'")) == [
        "earn_rules[0].when: 'line' is only available in per-line rules (scope: line)"]
    assert problems_of(rule("x", scope="line", when="line.sku == 'A'")) == []


def test_purchase_only_actions_on_other_events():
    found = problems_of(rule("a", on="review", lines={"skus": ["X"]}),
                        rule("b", on="check_in", points=SPEND),
                        rule("c", on="review", min_spend=100),
                        rule("d", scope="line", min_spend=100))
    assert found == [
        "earn_rules[0].lines: per-line rules apply to purchase lines; review events have none",
        "earn_rules[1].points.per_currency_unit: check_in events have no amount to earn on; "
        "use fixed",
        "earn_rules[2].min_spend: only purchases have a spend",
        "earn_rules[3].min_spend: applies to the whole order, not to a per-line rule",
    ]


def test_two_exclusive_rules_at_one_priority_conflict():
    found = problems_of(rule("a", exclusive=True, priority=10),
                        rule("b", exclusive=True, priority=10),
                        rule("c", exclusive=True, priority=11),
                        rule("d", exclusive=True, priority=10, points={"multiplier": "2"}))
    assert found == [
        "earn_rules[1].exclusive: earn_rules[0] ('a') is also exclusive at priority 10 on "
        "purchase events; give one a different priority so the winner is defined"]


def test_an_exclusive_gift_rule_competes_only_with_gift_rules():
    gift = {"id": "mug", "name": "Mug", "type": "gift", "cost_points": 100, "stock": 5}
    tote = {**gift, "id": "tote", "name": "Tote"}
    found = problems_of(rule("a", exclusive=True, priority=10),
                        rule("g1", exclusive=True, priority=10, points={"gift": "mug"}),
                        rule("g2", exclusive=True, priority=10, points={"gift": "tote"}),
                        rewards=[gift, tote])
    assert found == [
        "earn_rules[2].exclusive: earn_rules[1] ('g1') is also exclusive at priority 10 on "
        "purchase events; give one a different priority so the winner is defined"]


def test_exclusive_rules_in_separate_windows_do_not_conflict():
    assert problems_of(
        rule("march", exclusive=True, valid_from="2025-03-01", valid_until="2025-03-31"),
        rule("april", exclusive=True, valid_from="2025-04-01", valid_until="2025-04-30")) == []


def test_multiplier_targets_and_windows_and_templates():
    found = problems_of(
        rule("base", points=SPEND),
        rule("m", points={"multiplier": "2", "of": ["base", "ghost", "m2"]}),
        rule("m2", points={"multiplier": "2"}),
        rule("w", valid_from="2025-03-18", valid_until="2025-03-12"),
        rule("naive", valid_from="2025-03-18T10:00:00"),
        rule("t", explain="+{points} {currency}"))
    assert found == [
        "earn_rules[1].points.of[1]: unknown rule 'ghost'",
        "earn_rules[1].points.of[2]: 'm2' is a multiplier; multipliers only multiply earn rules",
        "earn_rules[3].valid_until: must be after valid_from",
        "earn_rules[4].valid_from: a date-time needs a timezone offset, e.g. "
        "2025-03-12T09:00:00Z; or give a plain date, read in the program timezone",
        "earn_rules[5].explain: unknown placeholder {currency}; use {points}, {points_name} "
        "or {rule}",
    ]


def test_custom_event_types_must_be_declared():
    declared = {"event_types": [{"name": "workshop", "fields": {"minutes": "int"}}]}
    assert problems_of(rule("w", on="workshop", when="event.data.minutes > 30"),
                       **declared) == []
    assert problems_of(rule("w", on="workshop"))[0].startswith("earn_rules[0].on: unknown")
    assert problems_of(rule("w", on="workshop", when="event.data.hours > 1"), **declared) == [
        "earn_rules[0].when: unknown field event.data.hours for workshop events"]


def test_warnings_do_not_fail_validation():
    document, problems = validate_document({"name": "P", "earn_rules": [
        rule("t", when="event.data.total >= 5000")]})
    assert document is not None
    assert [p.severity for p in problems] == ["warning"]


def test_yaml_on_key_stays_a_string_and_decimals_stay_exact():
    data = load_document("earn_rules:\n  - on: purchase\n    rate: 0.1\n    flag: yes\n")
    assert data == {"earn_rules": [{"on": "purchase", "rate": Decimal("0.1"), "flag": "yes"}]}


def test_parse_errors_are_problems_with_positions():
    _, bad_yaml = validate_text("name: P\nearn_rules:\n  - id: a\n   on: x\n")
    assert str(bad_yaml[0]).startswith("(document): YAML syntax error at 4:")
    _, duplicate = validate_text("name: P\nname: Q\n")
    assert [str(p) for p in duplicate] == ["(document): duplicate key 'name' at 2:1"]
    _, bad_json = validate_text('{"name": }', "program.json")
    assert [str(p) for p in bad_json] == ["(document): JSON syntax error at 1:10: "
                                          "Expecting value"]


def test_json_documents_validate_too():
    text = json.dumps({"name": "P", "earn_rules": [rule("base", points=SPEND)]})
    document, problems = validate_text(text, "program.json")
    assert problems == [] and document is not None


def test_cli_lists_problems_and_exits_non_zero(tmp_path: Path, capsys):
    bad = tmp_path / "program.yaml"
    bad.write_text("name: P\nearn_rules:\n  - id: a\n    name: A\n    on: purchase\n"
                   "    when: 'event.data.total >= '\n    points: {per_currency_unit: 0}\n")
    assert main([str(bad)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("earn_rules[0].when: Syntax error at 1:21")
    assert out[1] == "earn_rules[0].points.per_currency_unit: must be > 0"
    assert main([str(DEMO)]) == 0


def test_published_schema_is_current():
    published = Path(DEMO).parents[1] / "program.schema.json"
    assert published.read_text() == program_json_schema_text()
    schema = program_json_schema()
    assert schema["$id"] == "https://patron.dev/schemas/program-document.json"
    assert {"settings", "earn_rules", "event_types"} <= set(schema["properties"])


scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8) | st.sampled_from(
    ["purchase", "review", "event.data.total >", "member.purchase_count == 0", "2", "0.5",
     "2025-03-12", "line.sku == 'A'"])
keys = st.sampled_from(["id", "name", "on", "when", "points", "fixed", "multiplier", "of",
                        "per_currency_unit", "limits", "per_event", "scope", "lines",
                        "priority", "exclusive", "valid_from", "valid_until", "explain"])
trees = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(keys, kids, max_size=5), max_leaves=20)


@given(rules=st.lists(trees, max_size=4), settings=trees)
def test_any_document_gives_problems_not_crashes(rules, settings):
    document, problems = validate_document({"name": "P", "settings": settings,
                                            "earn_rules": rules})
    assert document is not None or problems
    assert all(p.path is not None and p.message for p in problems)


def reward(reward_id: str, when: str, **fields: Any) -> dict[str, Any]:
    return {"id": reward_id, "name": reward_id.title(), "type": "gift", "cost_points": 100,
            "eligibility": {"when": when}, **fields}


def test_reward_conditions_are_checked_at_publish_with_their_path():
    found = problems_of(rule("base", points=SPEND), rewards=[
        reward("ok", "member.tier == 'gold'"),
        reward("syntax", "member.purchase_count >="),
        reward("event", "event.data.total > 5000"),
        reward("typo", "member.purchse_count > 2"),
        reward("types", "member.tier == 'gold' || member.purchase_count > 'ten'"),
        reward("not_bool", "member.profile.region"),
        reward("func", "max(member.purchase_count, 1) > 1")])
    assert found[0].startswith("rewards[1].eligibility.when: Syntax error at 1:25: "
                               "mismatched input '<EOF>'")
    assert found[1:] == [
        "rewards[2].eligibility.when: unknown variable 'event'; reward conditions read member "
        "only",
        "rewards[3].eligibility.when: unknown field member.purchse_count; did you mean "
        "member.purchase_count?",
        "rewards[4].eligibility.when: type error in `member.purchase_count > 'ten'`: No such "
        "overload: the operation is not defined for the given operand types",
        "rewards[5].eligibility.when: type error: must be a true/false condition, got string",
        "rewards[6].eligibility.when: unknown function 'max'()",
    ]
    document, _ = validate_document({"name": "P", "rewards": [reward("r", "member.tier ==")]})
    assert document is None
    # A reward with a schema error still has its condition checked.
    assert problems_of(rewards=[reward("r", "member.tierr == 'gold'", cost_points=0)]) == [
        "rewards[0].cost_points: must be > 0",
        "rewards[0].eligibility.when: unknown field member.tierr; did you mean member.tier?"]


def test_reward_conditions_read_what_the_catalog_gives_them():
    declared = {"event_types": [{"name": "workshop", "fields": {"minutes": "int"}}]}
    good = [reward("a", "member.tier == 'gold' && member.purchase_count >= 3"),
            reward("b", "member.workshop_count > 0 || member.is_birthday_month"),
            reward("c", "member.profile.region == 'eu' && member.profile.birth_month == 3"),
            reward("d", "has(member.profile.attributes.vip) && "
                        "member.profile.attributes.vip == true"),
            reward("e", "")]
    document, problems = validate_document({"name": "P", "rewards": good, **declared})
    assert problems == [] and document is not None
    # Counts exist for declared event types only, as in the catalog.
    assert problems_of(rewards=[reward("b", "member.workshop_count > 0")]) == [
        "rewards[0].eligibility.when: unknown field member.workshop_count"]


def test_an_attribute_read_without_has_warns_that_members_without_it_never_match():
    found = problems_of(
        rule("vip", on="check_in", when="member.profile.attributes.vip == true"),
        rule("ok", on="check_in", when="has(member.profile.attributes.vip) "
                                       "&& member.profile.attributes.vip == true"),
        rule("deep", on="check_in", when="member.profile.attributes.prefs.milk == 'oat'"))
    assert found == [
        "warning: earn_rules[0].when: member.profile.attributes.vip is not set for every "
        "member, and the condition is false for members without it; guard it with "
        "has(member.profile.attributes.vip)",
        "warning: earn_rules[2].when: member.profile.attributes.prefs.milk is not set for "
        "every member, and the condition is false for members without it; guard it with "
        "has(member.profile.attributes.prefs.milk)",
    ]
    assert not any("__" in f for f in found)


def test_reward_conditions_warn_where_has_is_wanted_too():
    assert problems_of(rewards=[reward("r", "member.profile.attributes.vip")]) == [
        "warning: rewards[0].eligibility.when: member.profile.attributes.vip is not set for "
        "every member, and the condition is false for members without it; guard it with "
        "has(member.profile.attributes.vip)"]


def test_comparing_a_field_with_a_value_of_another_type_is_a_problem():
    declared = {"event_types": [{"name": "tasting", "fields": {"rating": "int",
                                                               "wine": "string"}}]}
    found = problems_of(
        rule("custom", on="tasting", when="event.data.rating == 'five'"),
        rule("built_in", on="review", when="event.data.has_photo && event.data.rating != '5'"),
        rule("local", when="event.local.weekday == 'Friday'"),
        rule("fields", on="tasting", when="event.data.wine == event.data.rating"),
        rule("member", when="member.purchase_count == true"),
        rule("fine", on="tasting", when="event.data.rating >= 4 && event.data.wine == 'red' "
                                        "&& event.local.weekday == 5"),
        rule("lines", scope="line", when="line.category == 'beans' && line.quantity >= 2u "
                                         "&& event.data.total > 10.5 - 1.0"),
        **declared)
    assert found == [
        "earn_rules[0].when: type mismatch in `event.data.rating == 'five'`: "
        "event.data.rating is an int, 'five' is a string, so they are never equal",
        "earn_rules[1].when: type mismatch in `event.data.rating != '5'`: "
        "event.data.rating is an int, '5' is a string, so they always differ",
        "earn_rules[2].when: type mismatch in `event.local.weekday == 'Friday'`: "
        "event.local.weekday is an int, 'Friday' is a string, so they are never equal",
        "earn_rules[3].when: type mismatch in `event.data.wine == event.data.rating`: "
        "event.data.wine is a string, event.data.rating is an int, so they are never equal",
        "earn_rules[4].when: type mismatch in `member.purchase_count == true`: "
        "member.purchase_count is an int, true is a bool, so they are never equal",
    ]
    document, _ = validate_document({"name": "P", "earn_rules": [
        rule("custom", on="tasting", when="event.data.rating == 'five'")], **declared})
    assert document is None


def test_an_exclusive_bonus_warns_that_it_silences_base_earning():
    found = problems_of(
        rule("base", points=SPEND),
        rule("app_promo", priority=10, exclusive=True, when="event.channel == 'app'",
             points={"per_currency_unit": "3"}),
        rule("beans", priority=20, exclusive=True, lines={"categories": ["beans"]},
             points={"per_currency_unit": "2"}),
        rule("review", on="review", exclusive=True))
    assert found == [
        "warning: earn_rules[1].exclusive: base earning is silenced when this rule applies: "
        "it stops earn_rules[0] ('base') on purchase events; drop exclusive for a bonus on "
        "top, or make it a multiplier",
        "warning: earn_rules[2].exclusive: base earning is silenced when this rule applies: "
        "it stops earn_rules[0] ('base') on the lines it awards on; drop exclusive for a "
        "bonus on top, or make it a multiplier",
    ]


def test_no_silencing_warning_when_the_rules_cannot_hold_together():
    promo = rule("promo", priority=10, exclusive=True, when="event.channel == 'app'",
                 points={"per_currency_unit": "3"})
    assert problems_of(rule("web", when="event.channel == 'web'", points=SPEND), promo) == []
    assert problems_of(rule("march", exclusive=True, valid_until="2025-03-31"),
                       rule("april", valid_from="2025-04-01", points=SPEND)) == []
    assert problems_of(rule("base", points=SPEND),
                       rule("last", priority=200, exclusive=True)) == []
    assert problems_of(rule("beans", priority=10, exclusive=True,
                            lines={"categories": ["beans"]}, points={"per_currency_unit": "2"}),
                       rule("mugs", lines={"categories": ["mugs"]}, points=SPEND)) == []
    assert problems_of(promo, rule("double", points={"multiplier": "2"})) == []
