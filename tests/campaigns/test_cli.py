"""``patron campaigns list|assign|members`` on a real database."""

from __future__ import annotations

from datetime import date, timedelta

from typer.testing import CliRunner

from patron.cli.main import app
from tests.campaigns.factories import Shop, campaign

runner = CliRunner()


def run(shop: Shop, *args: str):
    url = shop.db.engine.url.render_as_string(hide_password=False)
    return runner.invoke(app, ["campaigns", *args, "--program", shop.program.slug, "--db", url],
                         env={"COLUMNS": "200"})


def test_assign_then_list_and_members(database, clock):
    today = date.today()  # the CLI runs on the system clock: a window around today
    shop = Shop(database, clock, campaign(starts=str(today - timedelta(days=1)),
                                          ends=str(today + timedelta(days=30)),
                                          coupons=[{"type": "ten-off"}]))
    shop.members(10)
    assigned = run(shop, "assign")
    assert assigned.exit_code == 0, assigned.output
    assert "spring" in assigned.output
    groups = shop.groups()
    assert len(groups) == 10
    listed = run(shop, "list")
    assert listed.exit_code == 0 and "running" in listed.output and "20%" in listed.output
    held = run(shop, "members", "spring", "--group", "holdout")
    holdout = [m for m, g in groups.items() if g == "holdout"]
    assert held.exit_code == 0
    assert all(str(m) in held.output for m in holdout)
    assert run(shop, "members", "nope").exit_code == 2
