"""``patron coupons`` (registered by the main CLI as the ``coupons`` group)."""

from __future__ import annotations

import csv

from typer.testing import CliRunner

from patron.coupons.cli import app
from tests.coupons.factories import Shop

runner = CliRunner()


def test_generate_a_batch_and_export_it_again(database, clock, tmp_path):
    shop = Shop(database, clock)
    url = database.engine.url.render_as_string(hide_password=False)
    out = tmp_path / "codes.csv"
    made = runner.invoke(app, ["batch", "--program", shop.program.slug, "--type", "ship",
                               "--count", "25", "--name", "Flyers", "-o", str(out),
                               "--db", url])
    assert made.exit_code == 0, made.output
    rows = list(csv.DictReader(out.open()))
    assert len({row["code"] for row in rows}) == 25
    batch_id = shop.coupon(rows[0]["code"]).batch_id
    again = runner.invoke(app, ["export", str(batch_id), "--program", shop.program.slug,
                                "--db", url])
    assert again.exit_code == 0 and again.stdout.count("\n") == 26
    missing = runner.invoke(app, ["batch", "--program", shop.program.slug, "--type", "nope",
                                  "--count", "1", "--db", url])
    assert missing.exit_code == 2 and "coupon_type_not_found" in missing.output
