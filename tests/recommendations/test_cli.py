"""``patron recommendations train|show|segment`` on a real database."""

from __future__ import annotations

from typer.testing import CliRunner

from patron.cli.main import app
from patron.segments.membership import members_of
from tests.recommendations.factories import Shop

runner = CliRunner()


def run(shop: Shop, *args: str):
    url = shop.db.engine.url.render_as_string(hide_password=False)
    return runner.invoke(app, ["recommendations", *args, "--program", shop.program.slug,
                               "--db", url], env={"COLUMNS": "200"})


def test_train_show_and_segment(database, clock):
    shop = Shop(database, clock)
    coffee = [shop.coffee_lover() for _ in range(3)]
    shop.tea_lover()
    trained = run(shop, "train", "--algorithm", "als", "--seed", "3")
    assert trained.exit_code == 0, trained.output
    assert "4 members with history" in trained.output and "lists for 4 members" in trained.output
    shown = run(shop, "show", str(coffee[0]))
    assert shown.exit_code == 0, shown.output
    assert "basis member" in shown.output and "Coffee mug" in shown.output
    made = run(shop, "segment", "--key", "likely-coffee", "--category", "coffee", "--top", "2")
    assert made.exit_code == 0, made.output
    assert "2 members likely to buy coffee" in made.output
    assert len(shop.db.read(lambda conn: members_of(conn, shop.program.id,
                                                    "likely-coffee"))) == 2
    assert run(shop, "train", "--algorithm", "nope").exit_code == 2
    assert run(shop, "show", "987654321").exit_code == 2
    assert run(shop, "segment", "--key", "x", "--category", "a", "--reward", "b").exit_code == 2
