"""How rules combine: priority, exclusive rules, and the order multipliers apply in."""

from __future__ import annotations

from datetime import date

from patron.program.context import UsageSnapshot
from tests.program.factories import by_rule, earn, line, member, program, purchase, rule

SPEND = {"per_currency_unit": "1"}
BIRTHDAY = member(purchases=3, birthdate=date(1990, 3, 1))
BEANS_AND_MUG = purchase(line("BEANS", 2000, "beans"), line("MUG", 1000, "gear"))


def test_rules_run_in_priority_order_then_document_order():
    document = program(rule("late", priority=50), rule("early", priority=5),
                       rule("tie_a", priority=20), rule("tie_b", priority=20))
    evaluation = earn(document, purchase())
    assert [t.rule_id for t in evaluation.totals] == ["early", "tie_a", "tie_b", "late"]


def test_exclusive_rule_stops_later_rules_and_says_so():
    document = program(
        rule("app_promo", name="3 points per $1 in the app", priority=10, exclusive=True,
             when="event.channel == 'app'", points={"per_currency_unit": "3"}),
        rule("base", name="1 point per $1", points=SPEND),
        rule("bonus", priority=200, points={"fixed": 5}))
    app = earn(document, purchase(line("A", 1000), channel="app"))
    assert by_rule(app) == {"app_promo": 30}
    assert [(n.rule_id, n.code) for n in app.notes] == [
        ("base", "stopped_by_exclusive"), ("bonus", "stopped_by_exclusive")]
    assert app.notes[0].message == "1 point per $1: not combined with '3 points per $1 in the app'"
    web = earn(document, purchase(line("A", 1000), channel="web"))
    assert by_rule(web) == {"base": 10, "bonus": 5}


def test_exclusive_per_line_rule_only_takes_its_lines():
    document = program(
        rule("beans_triple", priority=10, exclusive=True, lines={"categories": ["beans"]},
             points={"per_currency_unit": "3"}),
        rule("base", points=SPEND))
    evaluation = earn(document, BEANS_AND_MUG)
    assert [(a.rule_id, a.line_index, a.points) for a in evaluation.awards] == [
        ("beans_triple", 0, 60), ("base", 1, 10)]


def test_exclusive_per_line_rule_says_which_rule_it_stopped_on_which_lines():
    document = program(
        rule("beans_triple", name="3x on beans", priority=10, exclusive=True,
             lines={"categories": ["beans"]}, points={"per_currency_unit": "3"}),
        rule("base", name="1 point per $1", points=SPEND),
        rule("welcome", points={"fixed": 5}))
    evaluation = earn(document, BEANS_AND_MUG)
    assert by_rule(evaluation) == {"beans_triple": 60, "base": 10, "welcome": 5}
    assert [(n.rule_id, n.code, n.message) for n in evaluation.notes] == [
        ("base", "stopped_by_exclusive", "1 point per $1: not combined with '3x on beans' "
                                         "on BEANS")]
    only_beans = earn(document, purchase(line("BEANS", 2000, "beans")))
    assert by_rule(only_beans) == {"beans_triple": 60, "welcome": 5}
    assert [(n.rule_id, n.code) for n in only_beans.notes] == [("base", "stopped_by_exclusive")]
    mugs = earn(document, purchase(line("MUG", 1000, "gear")))
    assert mugs.notes == ()


def test_exclusive_per_line_multiplier_notes_the_multipliers_it_stops():
    document = program(
        rule("base", points=SPEND),
        rule("beans_triple", name="3x on beans", priority=10, exclusive=True,
             lines={"categories": ["beans"]}, points={"multiplier": "3"}),
        rule("birthday", when="member.is_birthday_month", points={"multiplier": "2"}))
    evaluation = earn(document, BEANS_AND_MUG, BIRTHDAY)
    assert by_rule(evaluation) == {"base": 30, "beans_triple": 40, "birthday": 10}
    assert [(n.rule_id, n.code) for n in evaluation.notes] == [("birthday",
                                                                "stopped_by_exclusive")]


def test_exclusive_promotion_out_of_budget_falls_back_to_regular_rules():
    document = program(
        rule("promo", priority=10, exclusive=True, points={"per_currency_unit": "3"},
             limits={"budget": 30}),
        rule("base", points=SPEND))
    spent = UsageSnapshot(budget={"promo": 30})
    evaluation = earn(document, purchase(line("A", 1000)), usage=spent)
    assert by_rule(evaluation) == {"base": 10}
    assert [n.code for n in evaluation.notes] == ["budget_exhausted"]


def test_multipliers_add_up_rather_than_compound():
    document = program(
        rule("base", points=SPEND),
        rule("birthday", when="member.is_birthday_month", points={"multiplier": "2"}),
        rule("beans_double", lines={"categories": ["beans"]}, points={"multiplier": "2"}))
    evaluation = earn(document, BEANS_AND_MUG, BIRTHDAY)
    assert by_rule(evaluation) == {"base": 30, "birthday": 30, "beans_double": 20}
    per_line = {0: 0, 1: 0}
    for award in evaluation.awards:
        per_line[award.line_index] += award.points
    assert per_line == {0: 60, 1: 20}  # beans 3× base (not 4×), mug 2×


def test_multipliers_run_after_every_earn_rule_whatever_their_priority():
    document = program(
        rule("birthday", priority=1, when="member.is_birthday_month",
             points={"multiplier": "2"}),
        rule("base", priority=100, points=SPEND))
    assert by_rule(earn(document, purchase(line("A", 1500)), BIRTHDAY)) == {
        "base": 15, "birthday": 15}


def test_multiplier_targets_only_the_rules_it_names():
    document = program(
        rule("base", points=SPEND),
        rule("first", when="member.purchase_count == 0", points={"fixed": 50}),
        rule("only_spend", when="member.is_birthday_month",
             points={"multiplier": "2", "of": ["base"]}),
        rule("everything", on="purchase", when="member.tier == 'gold'",
             points={"multiplier": "2"}))
    newcomer = member(purchases=0, birthdate=date(1990, 3, 1), tier="gold")
    assert by_rule(earn(document, purchase(line("A", 1000)), newcomer)) == {
        "base": 10, "first": 50, "only_spend": 10, "everything": 60}


def test_multiplier_multiplies_points_after_caps():
    document = program(
        rule("base", points=SPEND, limits={"per_event": 25}),
        rule("birthday", when="member.is_birthday_month", points={"multiplier": "2"}))
    assert by_rule(earn(document, purchase(line("A", 4000)), BIRTHDAY)) == {
        "base": 25, "birthday": 25}


def test_exclusive_multiplier_stops_later_multipliers_only():
    document = program(
        rule("base", points=SPEND),
        rule("vip_triple", priority=10, exclusive=True, when="member.tier == 'gold'",
             points={"multiplier": "3"}),
        rule("birthday", priority=20, when="member.is_birthday_month",
             points={"multiplier": "2"}))
    gold = member(purchases=3, birthdate=date(1990, 3, 1), tier="gold")
    evaluation = earn(document, purchase(line("A", 1000)), gold)
    assert by_rule(evaluation) == {"base": 10, "vip_triple": 20}
    assert [(n.rule_id, n.code) for n in evaluation.notes] == [("birthday", "stopped_by_exclusive")]


def test_exclusive_earn_rule_does_not_stop_multipliers():
    document = program(
        rule("promo", priority=10, exclusive=True, points={"per_currency_unit": "3"}),
        rule("base", points=SPEND),
        rule("birthday", when="member.is_birthday_month", points={"multiplier": "2"}))
    assert by_rule(earn(document, purchase(line("A", 1000)), BIRTHDAY)) == {
        "promo": 30, "birthday": 30}


def test_fractional_multiplier_rounds_once():
    for mode, extra in (("floor", 4), ("half_up", 5), ("ceiling", 5)):
        document = program(
            rule("base", points=SPEND),
            rule("half_again", points={"multiplier": "1.5", "rounding": mode}))
        assert by_rule(earn(document, purchase(line("A", 900)))) == {
            "base": 9, "half_again": extra}, mode
