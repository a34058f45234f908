"""Badges, challenges and streaks in the program document: a broken one is a problem at
its path, every problem at once, and publishing it is refused with 422."""

from __future__ import annotations

from typing import Any

from patron.flows.event_types import BUILT_IN
from patron.program.catalog import RECORDED_ALONE
from patron.program.validate import validate_document
from tests.engagement.factories import COUPONS, SETTINGS, challenge, document, streak


def problems(**sections: Any) -> dict[str, str]:
    data = {"name": "P", "settings": SETTINGS, "coupons": COUPONS, **sections}
    found, listed = validate_document(data)
    errors = {p.path: p.message for p in listed if p.severity == "error"}
    assert (found is None) == bool(errors)
    return errors


def test_valid_sections_pass_and_the_demo_kind_of_document_validates():
    doc = document(
        badges=[{"id": "regular", "name": "Regular", "on": ["purchase"],
                 "when": "member.purchase_count >= 5", "reward": {"points": 50}}],
        challenges=[challenge(every="month", opt_in=True, holdout="0.1",
                              budget={"points": 1000},
                              goal={"measure": "distinct", "field": "line.category",
                                    "target": 2})],
        streaks=[streak(grace={"missed": 1, "per": 4},
                        milestones=[{"periods": 4, "reward": {"coupon": "five-off"}}])])
    assert [b.id for b in doc.badges] == ["regular"]
    assert doc.challenge("may-visits").goal.field == "line.category"


def test_each_problem_is_reported_at_its_path():
    found = problems(
        badges=[{"id": "a", "name": "A", "on": ["purchse"], "when": "member.purchase_count >="},
                {"id": "a", "name": "A2", "when": "event.data.total > 10"},
                {"id": "lv", "name": "Lv", "levels": [
                    {"id": "x", "name": "X", "when": "member.tier == 'gold'",
                     "reward": {"coupon": "five-of"}},
                    {"id": "x", "name": "Y", "when": "member.purchase_cnt > 1"}]}],
        challenges=[challenge(on=["purchase", "return"], ends="2026-04-01",
                              goal={"measure": "sum", "field": "event.data.store_id",
                                    "target": 5}),
                    challenge(id="eco", on=["eco_action"],
                              goal={"measure": "distinct", "field": "line.category",
                                    "target": 2})],
        streaks=[streak(period="month"),
                 streak(id="w2", milestones=[{"periods": 4, "reward": {"points": 1}},
                                             {"periods": 4, "reward": {"points": 2}}])])
    assert found["badges[0].on[0]"].startswith("unknown event type 'purchse'; did you mean "
                                                "'purchase'?")
    assert found["badges[0].when"].startswith("Syntax error at 1:")
    assert found["badges[1].id"] == "duplicate id 'a' (also badges[0])"
    assert found["badges[1].when"].startswith("a badge without 'on' is checked at every event")
    assert found["badges[2].levels[0].reward.coupon"] == (
        "unknown coupon type 'five-of'; did you mean 'five-off'?")
    assert found["badges[2].levels[1].id"] == "duplicate level id 'x' (also badges[2].levels[0])"
    assert found["badges[2].levels[1].when"].startswith("unknown field member.purchase_cnt")
    assert found["challenges[0].on[1]"] == "return events earn nothing and count towards nothing"
    assert found["challenges[0].ends"] == "must be after starts"
    assert found["challenges[0].goal.field"] == (
        "event.data.store_id is string for purchase events; the goal needs a whole number "
        "(int)")
    assert found["challenges[1].goal.field"] == (
        "line fields are purchase lines': the challenge must be on purchase only")
    assert found["streaks[0].period"] == "must be 'day' or 'week'"
    assert found["streaks[1].milestones[1].periods"] == "4 is already milestones[0]"


def test_schema_rules_of_the_sections():
    found = problems(
        badges=[{"id": "b", "name": "B", "when": "true", "levels": [
            {"id": "x", "name": "X", "when": "true"}]}],
        challenges=[challenge(goal={"measure": "distinct", "target": 2}, holdout="0.6",
                              reward={})],
        streaks=[streak(grace={"missed": 1, "per": 0})])
    assert found["badges[0]"] == "give when (one badge) or levels, not both"
    assert found["challenges[0].goal"] == "distinct and sum need a field; count takes none"
    assert found["challenges[0].holdout"] == "must be <= 0.5"
    assert found["challenges[0].reward"] == "give points and/or coupon"
    assert found["streaks[0].grace.per"] == "must be >= 1"


def test_a_challenge_outside_the_programs_run_dates():
    found = problems(settings={**SETTINGS, "starts_on": "2026-05-10"},
                     challenges=[challenge()])
    assert found == {"challenges[0].starts": "before the program starts (settings.starts_on "
                                             "2026-05-10)"}


def test_publishing_a_broken_document_is_422_with_the_paths(api):
    body = {"name": "P", "settings": SETTINGS, "coupons": COUPONS,
            "challenges": [challenge(goal={"measure": "sum", "field": "event.data.totl",
                                           "target": 10})],
            "streaks": [streak(on=["purchase", "membership_payment"])]}
    response = api.request("PUT", "/program", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_program_document"
    assert [(p["path"], p["message"]) for p in response.json()["problems"]] == [
        ("challenges[0].goal.field", "unknown field event.data.totl for purchase events; "
                                     "did you mean event.data.total?"),
        ("streaks[0].on[1]", "membership_payment events earn nothing and count towards "
                             "nothing")]
    assert api.get("/program").json()["version"] == 1
    body["challenges"][0]["goal"]["field"] = "event.data.total"
    body["streaks"][0]["on"] = ["purchase"]
    assert api.request("PUT", "/program", json=body).status_code == 201


def test_the_types_no_engagement_counts_are_those_ingest_records_alone():
    assert {name for name, kind in BUILT_IN.items() if kind.handler.stage} == RECORDED_ALONE
