"""``patron analytics REPORT`` as JSON, CSV and tables, and its errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from patron.cli.main import app


@pytest.fixture
def run(shop):
    url = shop.db.engine.url.render_as_string(hide_password=False)

    def invoke(*args: str):
        return CliRunner().invoke(app, ["analytics", *args, "--program", shop.program.slug,
                                        "--db", url])
    return invoke


def test_json_csv_and_table_output(run, shop, tmp_path):
    result = run("points", "--format", "json", "--end", "2026-03-02")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["liability"]["points"] == 30
    rfm = run("rfm", "-f", "csv", "--end", "2026-03-02")
    rows = list(csv.DictReader(io.StringIO(rfm.stdout)))
    assert {(int(r["member_id"]), r["segment"]) for r in rows} == {
        (shop.ids["A"], "Loyal"), (shop.ids["B"], "Hibernating"), (shop.ids["C"], "Hibernating")}
    out = tmp_path / "members.txt"
    table = run("members", "--end", "2026-03-02", "--out", str(out))
    assert table.exit_code == 0
    assert "average_order_value" in out.read_text() and "$26.67" in out.read_text()


def test_errors_exit_2_with_their_code(run):
    bad = run("members", "--start", "2026-02-01", "--end", "2026-01-01")
    assert bad.exit_code == 2 and "invalid_date_range" in bad.output
    few = run("clv")
    assert few.exit_code == 2 and "insufficient_data" in few.output


def test_a_report_on_old_data_says_what_day_it_is_as_of(run):
    """The shop's data ends in 2026; a report run later without --end says so."""
    table = run("members")
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())  # the console wraps long lines
    assert "as of 2026-02-25 (the last day with recorded activity)" in text
    assert "warning the data ends on 2026-02-25" in text and "no end date" in text
    data = json.loads(run("rfm", "-f", "json").stdout)
    assert (data["as_of"], data["as_of_basis"]) == ("2026-02-25", "data_end")
    assert data["warnings"] and "2026-02-25" in data["warnings"][0]
