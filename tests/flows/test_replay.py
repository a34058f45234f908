"""Simulating with the tiers and paid plans members held, as Patron recorded them, on SQLite
and PostgreSQL: the history is made for real (ingest upgrades, a tier set by hand, a paid
membership), then replayed through drafts by the service, the API and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any

from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.flows.enrolment import create_member
from patron.memberships import service as memberships
from patron.memberships.schemas import MembershipCreate, PaymentIn
from patron.flows import replay
from patron.program.service import get_program
from patron.program.versions import get_version, publish
from patron.program.document import ProgramDocument
from patron.tiers.service import review_program, set_manual
from tests.factories import member_create
from tests.program.documents import BASE, as_yaml, document, purchase

UTC = timezone.utc
TIER_BONUS = {"id": "tier_bonus", "name": "Tier multiplier", "on": "purchase",
              "points": {"benefit_multiplier": "tier", "of": ["base"]}}
PLAN_BONUS = {"id": "plan_bonus", "name": "Plan multiplier", "on": "purchase",
              "points": {"benefit_multiplier": "membership", "of": ["base"]}}


def tiers(gold: str | None = "2") -> dict[str, Any]:
    levels = [{"id": "member", "name": "Member", "threshold": 0},
              {"id": "silver", "name": "Silver", "threshold": 100_00}]
    if gold is not None:
        levels.append({"id": "gold", "name": "Gold", "threshold": 500_00,
                       "benefits": {"earn_multiplier": gold}})
    return {"metric": "qualifying_spend", "window": {"type": "calendar_year"},
            "levels": levels}


def tiered(gold: str | None = "2") -> dict[str, Any]:
    return {**document(BASE, TIER_BONUS), "tiers": tiers(gold)}


def with_plan(multiplier: str = "2", plan_id: str = "plus") -> dict[str, Any]:
    return {**document(BASE, PLAN_BONUS), "memberships": [
        {"id": plan_id, "name": "Plus", "price": 4900, "period_months": 1, "grace_days": 7,
         "benefits": {"earn_multiplier": multiplier}}]}


class Recorder:
    """Records a program's history the way it happens live: ingest, tiers, memberships."""

    def __init__(self, db, program, clock, published: dict[str, Any]) -> None:
        self.db, self.clock = db, clock
        self.db.transact(lambda conn: publish(conn, program, ProgramDocument.model_validate(
            published), actor="test", now=clock.now()))
        self.program = db.read(lambda conn: get_program(conn, program.id))
        self.awarded: Counter[str] = Counter()
        self.n = 0

    def member(self, email: str) -> int:
        payload = member_create(identities=[{"type": "email", "value": email}])
        return self.db.transact(lambda conn: create_member(conn, self.program, payload,
                                                           self.clock.now())).id

    def buy(self, member_id: int, total: int) -> None:
        self.n += 1
        event = EventIn.model_validate(purchase(f"p{self.n}", {"id": member_id}, total,
                                                self.clock.now()))
        [outcome] = self.db.transact(lambda conn: ingest(conn, self.program, [event],
                                                         now=self.clock.now(), actor="test"))
        assert outcome.status == "processed", outcome.error
        self.awarded.update({a.rule_id: a.points for a in outcome.awards})

    def compare(self, draft: dict[str, Any], start: datetime, end: datetime):
        def work(conn):
            history = replay.recorded_events(conn, self.program.id, start, end)
            return replay.compare(ProgramDocument.model_validate(draft), history,
                                      current=get_version(conn, self.program))
        return self.db.read(work)


def gold_history(db, program, clock) -> tuple[Recorder, dict[str, int]]:
    """Ann reaches Gold with her first order; Ben is made Gold by hand for ten days;
    Cy reaches Silver. Every order is an hour (or days) after the one before."""
    shop = Recorder(db, program, clock, tiered("2"))
    ann, ben, cy = (shop.member(f"{name}@example.com") for name in ("ann", "ben", "cy"))
    clock.advance(hours=1)
    shop.buy(ann, 600_00)  # reaches Gold inside this order: no multiplier on it
    shop.buy(ben, 20_00)
    shop.buy(cy, 150_00)   # reaches Silver
    clock.advance(hours=1)
    shop.buy(ann, 10_00)   # Gold
    shop.buy(cy, 5_00)     # Silver
    clock.advance(hours=1)
    db.transact(lambda conn: set_manual(conn, shop.program, ben, "gold",
                                        clock.now() + timedelta(days=10), "service recovery",
                                        "test", clock.now()))
    clock.advance(hours=1)
    shop.buy(ben, 30_00)   # Gold, by hand
    clock.advance(days=11)
    db.transact(lambda conn: review_program(conn, shop.program, clock.now()))  # manual ends
    shop.buy(ben, 40_00)   # back to his earned tier
    return shop, {"ann": ann, "ben": ben, "cy": cy}


MARCH = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
GOLD_BASE = 10 + 30
"""What Gold members earned from the base rule while they were Gold."""


def per_tier(figures) -> dict[str | None, tuple[int, int, int]]:
    return {t.tier_id: (t.events, t.members, t.points_issued) for t in figures.tiers}


def test_doubling_gold_costs_what_gold_members_earned_while_gold(database, program, clock):
    shop, _ = gold_history(database, program, clock)
    assert shop.awarded == {"base": 855, "tier_bonus": GOLD_BASE}
    report = shop.compare(tiered("4"), *MARCH)
    current = {r.rule_id: r.points_issued for r in report.current.rules}
    assert current == dict(shop.awarded)  # the current version replays what was awarded
    draft = {r.rule_id: r.points_issued for r in report.draft.rules}
    # A multiplier m adds (m - 1) x base: Gold goes from 1x to 3x its base points.
    assert draft["tier_bonus"] - current["tier_bonus"] == 2 * GOLD_BASE
    assert draft["base"] == current["base"] == 855
    assert report.net_points_change == 2 * GOLD_BASE
    assert per_tier(report.current) == {"member": (4, 3, 810), "silver": (1, 1, 5),
                                        "gold": (2, 2, 80)}
    assert per_tier(report.draft) == {"member": (4, 3, 810), "silver": (1, 1, 5),
                                      "gold": (2, 2, 160)}
    gold = next(t for t in report.tiers if t.tier_id == "gold")
    assert (gold.tier_name, gold.current.net_points, gold.draft.net_points) == ("Gold", 80, 160)
    assert (gold.points_issued_change, gold.current.cost_minor) == (80, 40)
    assert [t.tier_id for t in report.tiers] == ["member", "silver", "gold"]
    assert report.draft.tiers_not_in_document == {}


def test_a_draft_without_the_recorded_tier_runs_those_events_without_one(database, program,
                                                                         clock):
    shop, _ = gold_history(database, program, clock)
    report = shop.compare(tiered(None), *MARCH)
    assert report.draft.tiers_not_in_document == {"gold": 2}
    assert report.current.tiers_not_in_document == {}
    assert per_tier(report.draft) == {"member": (4, 3, 810), "silver": (1, 1, 5),
                                      None: (2, 2, GOLD_BASE)}
    assert [(t.tier_id, t.tier_name, t.current and t.current.points_issued,
             t.draft and t.draft.points_issued) for t in report.tiers] == [
        ("member", "Member", 810, 810), ("silver", "Silver", 5, 5), ("gold", "Gold", 80, None),
        (None, "no tier", None, GOLD_BASE)]
    assert {r.rule_id: r.draft and r.draft.points_issued for r in report.rules} == {
        "base": 855, "tier_bonus": 0}


def test_a_plans_multiplier_applies_only_while_the_plan_ran(database, program, clock):
    shop = Recorder(database, program, clock, with_plan("2"))
    dan, eve = shop.member("dan@example.com"), shop.member("eve@example.com")
    shop.buy(dan, 10_00)                     # before the plan
    clock.advance(days=1)
    membership = database.transact(lambda conn: memberships.subscribe(
        conn, shop.program, dan, MembershipCreate(plan_id="plus", payment=PaymentIn(
            reference="pay-1", amount=4900)), actor="test", now=clock.now()))
    clock.advance(days=1)
    shop.buy(dan, 20_00)                     # Plus
    shop.buy(eve, 20_00)                     # never a member of a plan
    clock.advance(days=1)
    database.transact(lambda conn: memberships.cancel(conn, shop.program, membership.id,
                                                      None, actor="test", now=clock.now()))
    clock.advance(days=20)
    shop.buy(dan, 25_00)                     # cancelled, but paid until 3 April
    clock.set(datetime(2026, 4, 10, 12, tzinfo=UTC))
    shop.buy(dan, 30_00)                     # the plan has ended
    assert shop.awarded == {"base": 105, "plan_bonus": 45}
    april = (MARCH[0], datetime(2026, 4, 11, tzinfo=UTC))
    report = shop.compare(with_plan("3"), *april)
    figures = {r.rule_id: (r.current.points_issued, r.draft.points_issued)
               for r in report.rules}
    assert figures == {"base": (105, 105), "plan_bonus": (45, 90)}
    dropped = shop.compare(with_plan("3", plan_id="family"), *april)
    assert dropped.draft.plans_not_in_document == {"plus": 2}
    assert {r.rule_id: r.draft.points_issued for r in dropped.rules} == {
        "base": 105, "plan_bonus": 0}


def test_the_api_reports_points_per_tier(api, clock):
    shop, _ = gold_history(api.db, api.program, clock)
    response = api.post("/program/simulate", role="analyst", json={
        "document": tiered("4"), "from": "2026-03-01", "to": "2026-03-31"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(t["tier_id"], t["current"]["points_issued"], t["draft"]["points_issued"],
             t["points_issued_change"]) for t in report["tiers"]] == [
        ("member", 810, 810, 0), ("silver", 5, 5, 0), ("gold", 80, 160, 80)]
    assert [(t["tier_id"], t["events"], t["members"]) for t in report["draft"]["tiers"]] == [
        ("member", 4, 3), ("silver", 1, 1), ("gold", 2, 2)]
    missing = api.post("/program/simulate", json={
        "document": tiered(None), "from": "2026-03-01", "to": "2026-03-31"}).json()
    assert missing["draft"]["tiers_not_in_document"] == {"gold": 2}
    assert missing["tiers"][-1]["tier_id"] is None
    spec = api.client.get("/openapi.json").json()["components"]["schemas"]
    assert "tiers" in spec["SimulationComparison"]["properties"]
    assert "tiers_not_in_document" in spec["SimulationFigures"]["properties"]


def test_given_events_know_members_by_identity_and_their_tier(api, clock):
    shop, people = gold_history(api.db, api.program, clock)
    gold_at = datetime(2026, 3, 2, 15, tzinfo=UTC)  # Ann is Gold, Ben is Gold by hand
    events = [purchase("g1", {"identity": {"type": "email", "value": " ANN@example.com"}},
                       100_00, gold_at),
              purchase("g2", {"id": people["ben"]}, 100_00, gold_at + timedelta(hours=2)),
              purchase("g3", {"identity": {"type": "email", "value": "zed@example.com"}},
                       100_00, gold_at)]
    report = api.post("/program/simulate", json={"document": tiered("4"),
                                                 "events": events}).json()
    assert per_tier_json(report["draft"]) == {"member": (1, 1, 100), "gold": (2, 2, 800)}
    assert per_tier_json(report["current"]) == {"member": (1, 1, 100), "gold": (2, 2, 400)}
    assert report["draft"]["members_seen"] == 3


def per_tier_json(figures: dict[str, Any]) -> dict[str | None, tuple[int, int, int]]:
    return {t["tier_id"]: (t["events"], t["members"], t["points_issued"])
            for t in figures["tiers"] if t["events"]}


def test_the_cli_shows_points_per_tier(database, program, clock, tmp_path):
    shop, _ = gold_history(database, program, clock)
    draft = tmp_path / "draft.yaml"
    draft.write_text(as_yaml(tiered("4")), encoding="utf-8")
    url = database.engine.url.render_as_string(hide_password=False)
    args = ["program", "simulate", str(draft), "--program", shop.program.slug, "--db", url,
            "--from", "2026-03-01", "--to", "2026-03-31"]
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "points issued per tier" in table.stdout
    gold_row = next(line for line in table.stdout.splitlines() if "gold (Gold)" in line)
    assert [cell.strip() for cell in gold_row.strip("│ ").split("│")] == [
        "gold (Gold)", "80", "160", "+80", "2 → 2"]
    draft.write_text(as_yaml(tiered(None)), encoding="utf-8")
    dropped = CliRunner().invoke(cli, args)
    assert "events run without a tier the draft does not have: gold 2" in dropped.stdout
    as_json = json.loads(CliRunner().invoke(cli, [*args, "--format", "json"]).stdout)
    assert as_json["draft"]["tiers_not_in_document"] == {"gold": 2}
    assert date.fromisoformat(as_json["events"]["start"][:10]) == date(2026, 3, 1)
