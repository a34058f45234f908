"""Simulating a draft campaign on recorded history: what it would issue and cost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import yaml
from typer.testing import CliRunner

from patron.campaigns import service
from patron.campaigns.domain import assign
from patron.cli.main import app as cli
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


def test_program_simulate_prints_the_campaign_cost_table(database, clock, tmp_path):
    shop = Shop(database, clock)
    members = shop.members(4)
    for member_id in members:
        shop.purchase(member_id, 4000)
    path = tmp_path / "draft.yaml"
    path.write_text(yaml.safe_dump(draft(campaign(holdout="0")).model_dump(mode="json")))
    url = database.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli, [
        "program", "simulate", str(path), "--program", shop.program.slug, "--from",
        "2026-03-01", "--to", "2026-03-31", "--db", url], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "campaign cost (draft)" in result.output
    row = next(line for line in result.output.splitlines() if "spring (" in line)
    assert "160" in row and "$0.80" in row
