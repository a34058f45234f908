"""Simulation replays badges, challenges and streaks: their rewards are part of the
draft's points and cost, budgets cut them where live ones would, badges already held
are not given again, and holdouts are kept out."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from typer.testing import CliRunner

from patron.cli.main import app as cli
from patron.engagement.batch import held_out
from patron.flows import replay
from patron.program.simulate import Simulator
from patron.program.versions import get_version
from tests.conftest import T0
from tests.engagement.factories import Shop, challenge, document, streak

UTC = timezone.utc
BASE = {"id": "base", "name": "1 per $1", "on": "purchase", "points": {"per_currency_unit": 1}}
BADGE = {"id": "regular", "name": "Regular", "on": ["purchase"],
         "when": "member.purchase_count >= 2", "reward": {"points": 100}}
MARCH = {"starts": "2026-03-01", "ends": "2026-04-30"}


def purchases(member: int, *days: int) -> list[dict]:
    return [{"id": f"p-{member}-{d}", "type": "purchase", "member": {"id": member},
             "occurred_at": (T0 + timedelta(days=d)).isoformat(),
             "data": {"order_id": f"o-{member}-{d}", "currency": "USD", "total": 1000}}
            for d in days]


def test_rewards_are_part_of_the_replayed_points_and_cost():
    draft = document(earn_rules=[BASE], badges=[BADGE], challenges=[challenge(
        **MARCH, goal={"measure": "count", "target": 2, "unit": "visits"},
        reward={"points": 200, "coupon": "five-off"}, budget={"points": 400})],
        streaks=[streak(milestones=[{"periods": 2, "reward": {"points": 40}}])])
    report = Simulator(draft).run([*purchases(1, 0, 7), *purchases(2, 0, 8),
                                   *purchases(3, 1, 9)])
    figures = {e.item_id: e for e in report.engagement}
    assert (figures["regular"].achieved, figures["regular"].points_issued) == (3, 300)
    visits = figures["may-visits"]
    assert (visits.achieved, visits.points_issued, visits.coupons, visits.budget_cutoffs) == (
        3, 400, 2, 1)  # the third completion finds the 400 points spent
    assert visits.cost_minor == 400 // 2 + 2 * 500  # points at 0.5 ¢, two $5 coupons
    assert (figures["weekly"].achieved, figures["weekly"].points_issued) == (3, 120)
    assert report.points_issued == 6 * 10 + 300 + 400 + 120
    assert report.cost_minor == (6 * 10 + 820) // 2 + 1000


def test_an_opt_in_challenge_is_replayed_as_if_every_member_joined():
    draft = document(challenges=[challenge(**MARCH, opt_in=True, goal={
        "measure": "count", "target": 1, "unit": "visits"})])
    report = Simulator(draft).run([*purchases(1, 0), *purchases(2, 1)])
    assert [(e.achieved, e.points_issued) for e in report.engagement] == [(2, 400)]


def test_a_replay_of_history_keeps_holdouts_out_and_gives_no_badge_twice(database, clock):
    shop = Shop(database, clock, earn_rules=[BASE], badges=[BADGE])
    members = [shop.member() for _ in range(10)]
    clock.set(datetime(2026, 4, 30, tzinfo=UTC))
    for n, member in enumerate(members):
        shop.send(*(shop.event_in(member, T0 + timedelta(days=d, hours=n)) for d in (1, 2)))
        shop.send(shop.event_in(member, datetime(2026, 4, 10, 12, tzinfo=UTC)))
    draft = document(earn_rules=[BASE], badges=[BADGE, {**BADGE, "id": "loyal",
                                                        "name": "Loyal"}],
                     challenges=[challenge(**MARCH, holdout="0.5", goal={
                         "measure": "count", "target": 1, "unit": "visits"})])

    def work(conn):
        history = replay.recorded_events(conn, shop.program.id,
                                         datetime(2026, 4, 1, tzinfo=UTC),
                                         datetime(2026, 4, 30, tzinfo=UTC))
        return replay.compare(draft, history, current=get_version(conn, shop.program))
    report = database.read(work)
    figures = {e.item_id: e for e in report.draft.engagement}
    assert figures["regular"].achieved == 0  # every member held it before April
    assert figures["loyal"].achieved == 10  # new: their third purchase is their 3rd
    treated = [m for m in members
               if not held_out(shop.program.id, "may-visits", m, Decimal("0.5"))]
    assert 0 < len(treated) < len(members)
    assert figures["may-visits"].achieved == len(treated)
    assert report.current.engagement[0].item_id == "regular"
    assert report.current.engagement[0].achieved == 0
    assert report.draft.points_issued == 10 * 10 + 100 * 10 + 200 * len(treated)


def test_the_cli_prints_what_each_would_give(database, clock, tmp_path):
    shop = Shop(database, clock, earn_rules=[BASE])
    member = shop.member()
    clock.set(datetime(2026, 4, 30, tzinfo=UTC))
    shop.send(*(shop.event_in(member, T0 + timedelta(days=d)) for d in (1, 2)))
    path = tmp_path / "draft.json"
    path.write_text(document(earn_rules=[BASE], badges=[BADGE]).model_dump_json(
        by_alias=True, exclude_none=True))
    result = CliRunner().invoke(cli, [
        "program", "simulate", str(path), "--program", shop.program.slug,
        "--db", database.engine.url.render_as_string(hide_password=False),
        "--from", "2026-03-01", "--to", "2026-04-01"])
    assert result.exit_code == 0, result.output
    assert "badges, challenges and streaks (draft)" in result.output
    row = next(line for line in result.output.splitlines() if "badge regular" in line)
    assert [cell.strip() for cell in row.split("│")[2:-1]] == ["1", "1", "100", "0", "$0.50",
                                                              "0"]
