"""Campaign results over a small campaign whose every figure is known, on both databases.

Program in UTC, 1 point per $, point value 0.5 minor units. Campaign ``spring`` runs
1–10 March 2026 (dates: the 10th inclusive) with 5 attribution days: purchases in
[1 March, 16 March) count. Treatment T1, T2, T3 (T3 enrolled on 2 March); holdout H1, H2.

| member | purchases |
|---|---|
| T1 | 20 Feb $40 (before), 2 Mar $100, 14 Mar $50 (attribution), 20 Mar $70 (after) |
| T2 | 5 Mar $30; spends 30 points on 6 Mar |
| T3 | – |
| H1 | 3 Mar $60 |
| H2 | – |

Treatment revenue $180 over 3 members = $60 a member; holdout $60 over 2 = $30.
The campaign's earn rule awarded 200 points on T1's 2 March order: cost 200 × 0.5 = 100.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select
from typer.testing import CliRunner

from patron.api.app import create_app
from patron.campaigns.domain import CampaignNotFound
from patron.campaigns.results import campaign_results
from patron.campaigns.tables import campaign_members
from patron.cli.main import app
from patron.clock import FrozenClock
from patron.coupons import checkout
from patron.coupons import service as coupons
from patron.coupons.schemas import RedeemRequest
from patron.earning.tables import awards
from patron.events.schemas import EventIn
from patron.events.tables import events
from patron.flows.enrolment import create_member
from patron.flows.ingest import ingest
from patron.flows.merging import merge_members
from patron.flows.redemption import redeem
from patron.ledger.service import spend_points
from patron.program.document import ProgramDocument
from patron.program.service import get_program
from patron.program.versions import publish
from tests.conftest import Api
from tests.factories import member_create, purchase_event


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


NOW = at(2026, 3, 25)
BASE = {"id": "base", "name": "A point a dollar", "on": "purchase",
        "points": {"per_currency_unit": "1"}}
SPRING = {"id": "spring", "name": "Spring double", "starts": "2026-03-01",
          "ends": "2026-03-10", "attribution_days": 5, "holdout": "0.5",
          "coupons": [{"type": "five-off"}],
          "earn_rules": [{"id": "spring-bonus", "name": "Spring bonus", "on": "purchase",
                          "points": {"per_currency_unit": "2"}}]}
LAUNCH = {"id": "launch", "name": "App launch", "starts": "2026-03-01", "ends": "2026-03-10",
          "attribution_days": 5, "holdout": "0"}
LATER = {"id": "summer", "name": "Summer", "starts": "2026-06-01", "ends": "2026-06-30"}
PURCHASES = [("T1", at(2026, 2, 20, 15), 40_00), ("T1", at(2026, 3, 2, 15), 100_00),
             ("T1", at(2026, 3, 14, 15), 50_00), ("T1", at(2026, 3, 20, 15), 70_00),
             ("T2", at(2026, 3, 5, 15), 30_00), ("H1", at(2026, 3, 3, 15), 60_00)]
GROUPS = {"spring": {"T1": "treatment", "T2": "treatment", "T3": "treatment",
                     "H1": "holdout", "H2": "holdout"},
          "launch": {"T1": "treatment", "T2": "treatment"}}


@pytest.fixture
def shop(database, program):
    document = ProgramDocument.model_validate({
        "name": "Spring shop", "settings": {"pending_days": 0, "point_value_minor": "0.5",
                                            "expiry": {"days": None}},
        "earn_rules": [BASE], "campaigns": [SPRING, LAUNCH, LATER],
        "coupons": [{"id": "five-off", "name": "5 off", "discount": {"amount": 500}}],
        "rewards": [{"id": "mug", "name": "Mug", "type": "gift", "cost_points": 50,
                     "stock": 10}]})
    database.transact(lambda conn: publish(conn, program, document, actor="test", now=NOW))
    program = database.read(lambda conn: get_program(conn, program.id))
    joined = {"T1": at(2026, 1, 10), "T2": at(2026, 1, 10), "T3": at(2026, 3, 2),
              "H1": at(2026, 1, 10), "H2": at(2026, 1, 10)}
    ids = {name: database.transact(lambda conn: create_member(
        conn, program, member_create(), when)).id for name, when in joined.items()}
    batch = [purchase_event({"id": ids[name]}, cents, when) for name, when, cents in PURCHASES]
    outcomes = database.transact(lambda conn: ingest(conn, program, batch, now=NOW,
                                                     actor="test"))
    assert all(o.status == "processed" for o in outcomes)
    database.transact(lambda conn: spend_points(conn, program, ids["T2"], points=30,
                                                reason="Free coffee", key="t2-coffee",
                                                actor="test", now=at(2026, 3, 6)))
    database.transact(lambda conn: _assign_and_award(conn, program, ids, batch[1].id))
    return database, program, ids


def _assign_and_award(conn, program, ids, event_id):
    conn.execute(insert(campaign_members), [
        {"program_id": program.id, "campaign_id": campaign, "member_id": ids[name],
         "group": group, "bucket": 0, "assigned_at": at(2026, 3, 1)}
        for campaign, groups in GROUPS.items() for name, group in groups.items()])
    # what the engine writes when a campaign earn rule awards: an award naming the rule
    base = conn.execute(select(awards).join(events, events.c.id == awards.c.event_id)
                        .where(events.c.external_id == event_id)).one()
    conn.execute(insert(awards), [{**{k: v for k, v in base._asdict().items() if k != "id"}, "rule_id": "spring-bonus",
                                   "rule_name": "Spring bonus", "points": 200}])


def results(shop, campaign, now=NOW, **options):
    database, program, _ = shop
    return database.read(lambda conn: campaign_results(conn, program, campaign, now,
                                                       **options))


def test_treatment_against_holdout_with_lift_cost_and_roi(shop):
    r = results(shop, "spring")
    assert (r.status, r.reach, r.holdout_share, r.attribution_days) == ("ended", 3, 0.5, 5)
    assert r.measured_until == at(2026, 3, 16)
    t, h = r.treatment, r.holdout
    assert (t.members, t.activated, t.new_members, t.orders, t.revenue) == (3, 2, 1, 3, 180_00)
    assert (t.spend_per_member, t.orders_per_member, t.points_redeemed) == (60_00, 1.0, 30)
    assert (h.members, h.activated, h.new_members, h.orders, h.revenue) == (2, 1, 0, 1, 60_00)
    assert (h.spend_per_member, h.orders_per_member, h.points_redeemed) == (30_00, 0.5, 0)
    assert (r.spend_lift.difference, r.spend_lift.relative) == (30_00, 1.0)
    assert r.spend_lift.low < 30_00 < r.spend_lift.high
    assert r.orders_lift.difference == 0.5
    assert (r.points_issued, r.cashback, r.coupons_issued, r.cost) == (200, 0, 0, 100)
    assert r.incremental_revenue == 90_00
    assert r.incremental_revenue_low == round(r.spend_lift.low * 3)
    assert r.roi == (90_00 - 100) / 100
    assert r.before_after is None and r.top_rewards == []


def test_attribution_days_override_and_campaign_not_started(shop):
    shorter = results(shop, "spring", attribution_days=0)
    assert (shorter.treatment.revenue, shorter.treatment.spend_per_member) == (130_00, 4333)
    assert shorter.status == "ended"
    upcoming = results(shop, "summer", now=at(2026, 3, 2))
    assert upcoming.status == "upcoming" and upcoming.treatment.members == 0
    assert (upcoming.treatment.revenue, upcoming.cost, upcoming.spend_lift) == (0, 0, None)
    assigned_early = results(shop, "spring", now=at(2026, 2, 27))
    assert (assigned_early.status, assigned_early.reach) == ("upcoming", 3)
    assert (assigned_early.spend_lift, assigned_early.roi, assigned_early.before_after) == (
        None, None, None)


def test_without_holdout_a_before_after_view_labelled_not_causal(shop):
    r = results(shop, "launch")
    assert r.holdout is None and r.spend_lift is None and r.roi is None
    view = r.before_after
    assert view.causal is False and view.note.startswith("not causal")
    assert view.before_start == at(2026, 2, 14)
    assert (view.before_spend_per_member, view.after_spend_per_member) == (20_00, 90_00)
    assert (view.change, view.relative_change) == (70_00, 3.5)


def test_unknown_campaign_is_not_found_naming_the_field(shop):
    database, program, _ = shop
    with pytest.raises(CampaignNotFound) as raised:
        results(shop, "winter")
    assert (raised.value.code, raised.value.extra["field"]) == ("campaign_not_found",
                                                                 "campaign_id")
    assert results(shop, "spring", version=program.version).program_version == program.version


def test_cli_prints_the_table_and_json(shop):
    database, program, _ = shop
    url = database.engine.url.render_as_string(hide_password=False)
    base = ["analytics", "campaign", "spring", "--program", program.slug, "--db", url]
    as_json = CliRunner().invoke(app, [*base, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert (body["treatment"]["spend_per_member"], body["incremental_revenue"]) == (60_00, 90_00)
    table = CliRunner().invoke(app, base)
    assert table.exit_code == 0, table.output
    assert "$60.00" in table.stdout and "ROI" in table.stdout and "89.00" in table.stdout
    launch = CliRunner().invoke(app, [*base[:2], "launch", *base[3:]])
    assert "not causal" in launch.stdout
    missing = CliRunner().invoke(app, [*base[:2], "winter", *base[3:]])
    assert missing.exit_code == 2 and "campaign_not_found" in missing.stderr


def test_api_answers_results_and_problem_details(shop, client):
    database, program, _ = shop
    api = client(program)
    answer = api.get("/analytics/campaigns/spring", role="analyst")
    assert answer.status_code == 200, answer.text
    assert answer.json()["roi"] == 89.0 and answer.json()["treatment"]["revenue"] == 180_00
    assert api.get("/analytics/campaigns/spring?attribution_days=0",
                   role="analyst").json()["treatment"]["revenue"] == 130_00
    missing = api.get("/analytics/campaigns/winter", role="analyst")
    assert missing.status_code == 404
    assert (missing.json()["code"], missing.json()["field"]) == ("campaign_not_found",
                                                                  "campaign_id")
    assert api.get("/analytics/campaigns/spring?attribution_days=-1").status_code == 422
    assert api.get("/analytics/campaigns/Not%20an%20id").status_code == 422


@pytest.fixture
def client(database):
    with TestClient(create_app(database, FrozenClock(NOW)),
                    raise_server_exceptions=False) as http:
        yield lambda program: Api(http, database, program, FrozenClock(NOW))


def test_returned_lines_come_off_revenue_pro_rata_to_quantity(shop):
    database, program, ids = shop
    lines = [{"sku": "MUG", "category": "merch", "quantity": 2, "amount": 40_00},
             {"sku": "LAT", "category": "drinks", "quantity": 1, "amount": 10_00}]
    bought = purchase_event({"id": ids["T2"]}, 50_00, at(2026, 3, 8), order_id="mugs",
                            lines=lines)
    one_mug = EventIn.model_validate({
        "id": "ret-1", "type": "return", "member": {"id": ids["T2"]},
        "occurred_at": at(2026, 3, 9).isoformat(),
        "data": {"order_id": "mugs", "lines": [{"sku": "MUG", "quantity": 1}]}})
    outcomes = database.transact(lambda conn: ingest(conn, program, [bought, one_mug], now=NOW,
                                                     actor="test"))
    assert [o.status for o in outcomes] == ["processed", "processed"]
    r = results(shop, "spring")
    assert (r.treatment.orders, r.treatment.revenue) == (4, 180_00 + 50_00 - 20_00)
    assert r.treatment.spend_per_member == 70_00


def test_coupons_used_count_in_cost_and_rewards_redeemed_are_ranked(shop):
    database, program, ids = shop

    def give(conn):
        codes = {name: coupons.issue(conn, program, "five-off", member_id=ids[name],
                                     now=at(2026, 3, 1), source="campaign:spring").code
                 for name in ("T1", "T2", "H1")}
        for name in ("T1", "H1"):
            checkout.redeem(conn, program, codes[name], RedeemRequest.model_validate({
                "order_id": f"till-{name}", "member_id": ids[name],
                "order": {"subtotal": 30_00, "currency": "USD"}}),
                now=at(2026, 3, 4), actor="test")
        redeem(conn, program, ids["T1"], reward_id="mug", key="mug-1", actor="test",
               now=at(2026, 3, 12))
    database.transact(give)
    r = results(shop, "spring")
    # the holdout's coupon is not the campaign's doing: only treatment coupons count
    assert (r.coupons_issued, r.coupons_used, r.coupon_value_used) == (2, 1, 5_00)
    assert r.cost == 100 + 5_00 and r.roi == (90_00 - 600) / 600
    assert [(w.reward_id, w.name, w.redemptions, w.points) for w in r.top_rewards] == [
        ("mug", "Mug", 1, 50)]
    assert r.treatment.points_redeemed == 30 + 50


def test_a_member_merged_into_another_is_counted_once(shop):
    database, program, ids = shop
    # H2 (holdout, nothing bought) turns out to be T1: T1 keeps its treatment group,
    # and the merged record is no second, empty member of the holdout
    database.transact(lambda conn: merge_members(conn, program, ids["T1"], ids["H2"],
                                                 reason="same person", actor="test",
                                                 now=NOW))
    r = results(shop, "spring")
    t, h = r.treatment, r.holdout
    assert (t.members, t.revenue) == (3, 180_00)
    assert (h.members, h.activated, h.revenue, h.spend_per_member) == (1, 1, 60_00, 60_00)
