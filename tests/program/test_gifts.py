"""Gift rules in the pure engine: one catalog gift per event, its own pass, its limits,
what a return takes back, what publishing refuses and what a simulation counts."""

from __future__ import annotations

from typing import Any

from patron.program.engine import out_of_stock
from patron.program.returns import ReturnLine, plan_clawback
from patron.program.simulate import Simulator
from patron.program.validate import format_problems, validate_document
from tests.program.factories import History, by_rule, demo, earn, line, member, purchase, rule

MUG = {"id": "mug", "name": "Coffee mug", "type": "gift", "cost_points": 1500, "stock": 200}
TOTE = {"id": "tote", "name": "Tote bag", "type": "gift", "cost_points": 2500}
COFFEE = {"id": "coffee", "name": "Free coffee", "type": "cashback", "cost_points": 100,
          "cashback": 300}
BASE = rule("base", name="1 point per $1", points={"per_currency_unit": "1"})
MUG_RULE = rule("mug-50", name="Free mug on orders of $50 or more", min_spend=5000,
                points={"gift": "mug"})


def gift_program(*rules: dict[str, Any], rewards: list[dict[str, Any]] | None = None):
    data = {"name": "Gifts", "settings": {"currency": "USD", "timezone": "America/New_York"},
            "earn_rules": list(rules), "rewards": [MUG, TOTE, COFFEE] if rewards is None
            else rewards}
    document, problems = validate_document(data)
    assert document is not None, format_problems(problems)
    return document


def problems_of(*rules: dict[str, Any], rewards: list[dict[str, Any]] | None = None):
    data = {"name": "Gifts", "earn_rules": list(rules),
            "rewards": [MUG, TOTE, COFFEE] if rewards is None else rewards}
    return [str(p) for p in validate_document(data)[1]]


def test_a_qualifying_order_gets_one_gift_beside_its_points():
    evaluation = earn(gift_program(BASE, MUG_RULE), purchase(line("BEANS", 6000, "beans"),
                                                             line("GRINDER", 3000, "gear")))
    [gift] = evaluation.gifts
    assert (gift.rule_id, gift.reward_id, gift.points, gift.kind) == ("mug-50", "mug", 1, "gift")
    assert gift.explanation == "Free mug on orders of $50 or more: Coffee mug"
    assert not gift.pending  # a thing, not points: nothing waits for the return window
    assert evaluation.total_points == 90 and evaluation.cashback == 0
    [award] = [a for a in evaluation.awards if a.kind == "gift"]
    assert (award.line_index, award.min_spend, award.reward_id) == (None, 5000, "mug")


def test_an_order_below_the_threshold_gets_no_gift():
    evaluation = earn(gift_program(BASE, MUG_RULE), purchase(line("BEANS", 4999, "beans")))
    assert evaluation.gifts == () and by_rule(evaluation) == {"base": 49}


def test_a_gift_only_program_evaluates_gift_rules():
    evaluation = earn(gift_program(MUG_RULE), purchase(line("BEANS", 5000, "beans")))
    assert by_rule(evaluation) == {"mug-50": 1} and evaluation.total_points == 0


def test_exclusive_gift_rules_pick_the_best_gift_and_do_not_stop_points():
    tote = rule("tote-100", name="Free tote from $100", min_spend=10000, priority=10,
                exclusive=True, points={"gift": "tote"})
    only_points = rule("base", name="1 point per $1", exclusive=True,
                       points={"per_currency_unit": "1"})
    document = gift_program(only_points, tote, MUG_RULE)
    big = earn(document, purchase(line("MACHINE", 12000, "gear")))
    assert [g.reward_id for g in big.gifts] == ["tote"]
    assert [n.code for n in big.notes] == ["stopped_by_exclusive"]
    assert big.total_points == 120  # an exclusive earn rule does not stop gifts, nor they it
    middle = earn(document, purchase(line("BEANS", 6000, "beans")))
    assert [g.reward_id for g in middle.gifts] == ["mug"]


def test_a_gift_counts_as_one_against_the_rules_limits():
    once = rule("mug-once", name="A mug with your first big order", min_spend=5000,
                points={"gift": "mug"}, limits={"per_member": {"lifetime": {"awards": 1}}})
    history = History(gift_program(once))
    first = history.earn(purchase(line("BEANS", 6000), order_id="a"))
    second = history.earn(purchase(line("BEANS", 6000), order_id="b"))
    assert [g.points for g in first.gifts] == [1] and second.gifts == ()
    assert [(n.code, n.message) for n in second.notes] == [
        ("limit_reached", "A mug with your first big order: limit of 1 in total reached, "
                          "no gift")]


def test_a_gift_budget_is_a_number_of_gifts():
    two = rule("mug-two", name="Two mugs to give", min_spend=5000, points={"gift": "mug"},
               limits={"budget": 2})
    history = History(gift_program(two))
    given = [history.earn(purchase(line("BEANS", 6000), order_id=f"o{n}")) for n in range(3)]
    assert [len(e.gifts) for e in given] == [1, 1, 0]
    assert [(n.code, n.message) for n in given[2].notes] == [
        ("budget_exhausted", "Two mugs to give: all 2 gifts of the promotion were given, "
                             "no gift")]


def test_out_of_stock_drops_the_gift_and_says_so():
    evaluation = earn(gift_program(BASE, MUG_RULE), purchase(line("BEANS", 6000)))
    short = out_of_stock(evaluation, ["mug-50"])
    assert short.gifts == () and [a.kind for a in short.awards] == ["earn"]
    assert short.total_points == evaluation.total_points == 60
    assert [(n.rule_id, n.code, n.message) for n in short.notes] == [
        ("mug-50", "out_of_stock", "Free mug on orders of $50 or more: out of stock, no gift")]
    assert out_of_stock(evaluation, []) is evaluation


def test_a_return_below_the_threshold_takes_the_gift_back_and_one_above_does_not():
    evaluation = earn(demo(), purchase(line("BEANS-1KG", 4900, "beans", quantity=2),
                                       line("MUG", 3600, "gear")), member(purchases=2))
    order = evaluation.purchase
    gift = [a for a in evaluation.awards if a.kind == "gift"]
    assert [(a.rule_id, a.reward_id) for a in gift] == [("mug_with_big_order", "demo_mug")]
    kept = plan_clawback(gift, order, [ReturnLine(0, 1)], {})  # $85 - $24.50 = $60.50
    assert kept == []
    below = plan_clawback(gift, order, [ReturnLine(1, 1)], {0: 1})  # $60.50 - $36
    assert [(c.rule_id, c.points, c.reason) for c in below] == [
        ("mug_with_big_order", 1, "A free Demo Coffee mug with your first order of $50 or "
                                  "more: order now below $50.00")]


def test_publishing_refuses_a_gift_that_is_missing_or_not_a_gift():
    found = problems_of(rule("a", points={"gift": "mgu"}), rule("b", points={"gift": "coffee"}),
                        rule("c", points={"gift": "vase"}))
    assert found == [
        "earn_rules[0].points.gift: unknown reward 'mgu'; did you mean 'mug'?",
        "earn_rules[1].points.gift: 'coffee' is a cashback reward; a rule gives rewards of "
        "type gift",
        "earn_rules[2].points.gift: unknown reward 'vase' (gift rewards: mug, tote)",
    ]
    assert problems_of(rule("a", points={"gift": "mug"}), rewards=[]) == [
        "earn_rules[0].points.gift: unknown reward 'mug'; add it under rewards with type: gift"]


def test_publishing_refuses_gift_rules_that_cannot_mean_what_they_say():
    found = problems_of(
        rule("per-line", lines={"categories": ["beans"]}, points={"gift": "mug"}),
        rule("tiered", points={"gift": "mug"}, tier_points=True, pending=True),
        rule("double", points={"multiplier": "2", "of": ["per-line"]}),
        rule("rounded", points={"gift": "mug", "rounding": "floor"}),
        rule("both", points={"gift": "mug", "fixed": 5}))
    assert found == [
        "earn_rules[0].lines: a gift is given once per event, not per line",
        "earn_rules[1].pending: a gift is never pending",
        "earn_rules[1].tier_points: a gift is not points",
        "earn_rules[2].points.of[0]: 'per-line' gives a gift; multipliers only multiply points",
        "earn_rules[3].points: a gift is one whole unit: rounding does not apply",
        "earn_rules[4].points: give exactly one of per_currency_unit, fixed, multiplier, "
        "benefit_multiplier, cashback_percent, gift",
    ]


def _events(count: int, total: int) -> list[dict[str, Any]]:
    return [{"id": f"e{n}", "type": "purchase", "member": {"id": n},
             "occurred_at": f"2025-03-14T1{n % 10}:00:00Z",
             "data": {"order_id": f"o{n}", "currency": "USD", "total": total}}
            for n in range(count)]


def test_a_simulation_counts_gifts_in_units_within_the_stock():
    scarce = {**MUG, "stock": 2}
    events = _events(3, 6000) + [{"id": "r", "type": "return", "member": {"id": 0},
                                  "occurred_at": "2025-03-15T10:00:00Z",
                                  "data": {"order_id": "o0"}}]
    report = Simulator(gift_program(BASE, MUG_RULE, rewards=[scarce])).run(events)
    rules = {r.rule_id: r for r in report.rules}
    mug = rules["mug-50"]
    assert (mug.gift, mug.points_issued, mug.points_clawed_back, mug.out_of_stock,
            mug.cost_minor) == ("mug", 2, 1, 1, 0)
    assert report.points_issued == 180 and report.points_clawed_back == 60  # points only
    [gifts] = report.gifts
    assert (gifts.reward_id, gifts.stock, gifts.given, gifts.cancelled, gifts.net,
            gifts.out_of_stock) == ("mug", 2, 2, 1, 1, 1)
