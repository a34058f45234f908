"""Campaign earn rules: checked like any rule, applied only to treatment members inside
the campaign's window, and stopped by the campaign's budget."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from patron.program.context import UsageSnapshot
from patron.program.engine import evaluate
from patron.program.validate import validate_document
from tests.program.factories import line, member, purchase

INSIDE = datetime(2026, 3, 10, 15, tzinfo=timezone.utc)
BEFORE = datetime(2026, 2, 27, 15, tzinfo=timezone.utc)


def campaign(**fields: Any) -> dict[str, Any]:
    return {"id": "spring", "name": "Spring double points", "starts": "2026-03-01",
            "ends": "2026-03-31", "holdout": "0.1",
            "earn_rules": [{"id": "spring-x2", "name": "Spring x2", "on": "purchase",
                            "points": {"multiplier": 2}}], **fields}


def document(*campaigns: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": "Test", "settings": {"currency": "USD", "point_value_minor": "0.5",
                                         "pending_days": 0, **settings},
            "earn_rules": [{"id": "base", "name": "1 point per $1", "on": "purchase",
                            "points": {"per_currency_unit": 1}}],
            "coupons": [{"id": "ten-off", "name": "$10 off", "discount": {"amount": 1000}}],
            "campaigns": list(campaigns)}


def problems(data: dict[str, Any]) -> dict[str, str]:
    found, listed = validate_document(data)
    return {p.path: p.message for p in listed if p.severity == "error"}


def earn(data: dict[str, Any], at: datetime, campaigns: frozenset[str] = frozenset(),
         usage: UsageSnapshot | None = None):
    valid, listed = validate_document(data)
    assert valid is not None, listed
    who = replace(member(), campaigns=campaigns)
    return evaluate(valid, 1, purchase(line("BEANS", 10_000), at=at), who,
                    usage or UsageSnapshot(), now=at)


def test_a_valid_campaign_passes():
    assert problems(document(campaign(coupons=[{"type": "ten-off"}]))) == {}


def test_campaign_rule_ids_share_one_namespace_with_the_documents_rules():
    rules = [{"id": "base", "name": "Again", "on": "purchase", "points": {"fixed": 5}}]
    found = problems(document(campaign(earn_rules=rules)))
    assert found["campaigns[0].earn_rules[0].id"].startswith("duplicate id 'base' (also "
                                                              "earn_rules[0])")


def test_campaign_rules_are_checked_like_any_earn_rule():
    rules = [{"id": "x", "name": "X", "on": "purchse", "points": {"fixed": 5}},
             {"id": "y", "name": "Y", "on": "purchase", "when": "event.data.total >",
              "points": {"fixed": 5}}]
    found = problems(document(campaign(earn_rules=rules)))
    assert "did you mean 'purchase'" in found["campaigns[0].earn_rules[0].on"]
    assert "Syntax error" in found["campaigns[0].earn_rules[1].when"]


def test_window_rules_and_references():
    bad = campaign(id="spring", ends="2026-02-01", coupons=[{"type": "nope"}], reward="mug")
    rule = {"id": "early", "name": "Early", "on": "purchase", "points": {"fixed": 5},
            "valid_from": "2026-01-01"}
    found = problems(document(campaign(earn_rules=[rule]), bad))
    assert found["campaigns[1].id"].startswith("duplicate campaign id 'spring'")
    assert found["campaigns[1].ends"] == "must be after starts"
    assert found["campaigns[1].coupons[0].type"].startswith("unknown coupon type 'nope'")
    assert found["campaigns[1].reward"].startswith("unknown reward 'mug'")
    assert found["campaigns[0].earn_rules[0].valid_from"] == "outside the campaign's window"


def test_a_campaign_outside_the_programs_run_dates():
    found = problems(document(campaign(), starts_on="2026-03-05", ends_on="2026-03-20"))
    assert found["campaigns[0].starts"].startswith("before the program starts")
    assert found["campaigns[0].ends"].startswith("after the program ends")


def test_holdout_and_budget_bounds_are_schema_errors():
    found = problems(document(campaign(holdout="0.6", budget={"points": -1})))
    assert found == {"campaigns[0].holdout": "must be <= 0.5",
                     "campaigns[0].budget.points": "must be >= 0"}


def test_only_treatment_members_earn_by_campaign_rules_inside_the_window():
    data = document(campaign())
    assert earn(data, INSIDE, frozenset({"spring"})).total_points == 200
    assert earn(data, INSIDE).total_points == 100
    assert earn(data, BEFORE, frozenset({"spring"})).total_points == 100


def test_campaign_points_budget_cuts_the_award_and_says_so():
    data = document(campaign(budget={"points": 1000}))
    used = UsageSnapshot(campaigns={"spring": (960, 480)})
    evaluation = earn(data, INSIDE, frozenset({"spring"}), used)
    assert evaluation.total_points == 140
    assert evaluation.campaign_spend == (("spring", 40, 20),)
    spent = UsageSnapshot(campaigns={"spring": (1000, 500)})
    evaluation = earn(data, INSIDE, frozenset({"spring"}), spent)
    assert evaluation.total_points == 100
    assert [n.code for n in evaluation.notes] == ["campaign_budget_exhausted"]


def test_campaign_money_budget_prices_points_at_the_point_value():
    data = document(campaign(budget={"money": 30}))  # 30 cents = 60 points at 0.5
    evaluation = earn(data, INSIDE, frozenset({"spring"}))
    assert evaluation.total_points == 160
    assert evaluation.campaign_spend == (("spring", 60, 30),)
