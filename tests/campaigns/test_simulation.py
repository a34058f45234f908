"""Simulating a draft campaign on recorded history: what it would issue and cost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from patron.campaigns import service
from patron.campaigns.domain import assign
from patron.flows import replay
from patron.program.document import ProgramDocument
from patron.program.versions import get_version
from tests.campaigns.factories import BASE, COUPONS, SETTINGS, Shop, campaign

START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def draft(*campaigns) -> ProgramDocument:
    return ProgramDocument.model_validate({"name": "Shop", "settings": SETTINGS,
                                           "earn_rules": [BASE], "coupons": COUPONS,
                                           "campaigns": list(campaigns)})


def simulate(shop: Shop, document: ProgramDocument):
    def work(conn):
        history = replay.recorded_events(conn, shop.program.id, START,
                                         START + timedelta(days=40))
        return replay.compare(document, history, current=get_version(conn, shop.program))
    return shop.db.read(work)


def test_a_draft_campaign_shows_its_cost_for_the_treatment_group(database, clock):
    shop = Shop(database, clock)
    members = shop.members(12)
    for member_id in members:
        shop.purchase(member_id, 4000)
    treated = [m for m in members
               if assign(shop.program.id, "spring", m, Decimal("0.2"))[1] == "treatment"]
    report = simulate(shop, draft(campaign(holdout="0.2")))
    [figures] = report.draft.campaigns
    assert 0 < len(treated) < len(members)
    assert figures.points_issued == 40 * len(treated)
    assert figures.cost_minor == 20 * len(treated)
    assert figures.members_reached == len(treated)
    assert report.draft.points_issued == 40 * len(members) + 40 * len(treated)
    assert report.current.campaigns == []


def test_the_budget_cuts_off_a_draft_campaign(database, clock):
    shop = Shop(database, clock)
    members = shop.members(6)
    for member_id in members:
        shop.purchase(member_id, 4000)
    report = simulate(shop, draft(campaign(holdout="0", budget={"points": 100})))
    [figures] = report.draft.campaigns
    assert figures.points_issued == 100 and figures.budget_points == 100
    assert figures.budget_cutoffs == 4  # 40, 40, then 20 (cut short), then three refused


def test_recorded_groups_win_over_the_bucket_rule(database, clock):
    shop = Shop(database, clock, campaign(holdout="0.5"))
    members = shop.members(10)
    shop.db.transact(lambda conn: service.assign(conn, shop.program, clock.now()))
    groups = shop.groups()
    for member_id in members:
        shop.purchase(member_id, 4000)
    report = simulate(shop, draft(campaign(holdout="0")))  # everyone, were it not recorded
    [figures] = report.draft.campaigns
    assert figures.members_reached == list(groups.values()).count("treatment")
