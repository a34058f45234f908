"""``patron import`` from the command line: summary, exit codes, rejects file."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from patron.cli.main import app


def db_url(database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def test_import_events_csv_prints_a_summary_and_is_idempotent(database, program, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("customer,day,usd\n42,19970101,29.33\n42,19970118,29.73\n7,1997-13-01,1\n")
    args = ["import", "events", str(path), "--program", program.slug, "--db", db_url(database),
            "--map", "external_id=customer", "--map", "occurred_at=day", "--map", "total=usd",
            "--set", "type=purchase", "--money", "major", "--time-format", "%Y%m%d"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1, first.output  # one row rejected
    assert "imported" in first.output and "rejected" in first.output
    [reject] = [json.loads(x) for x in (tmp_path / "sales.csv.rejects.jsonl").read_text()
                .splitlines()]
    assert (reject["line"], reject["code"], reject["record"]["day"]) == (
        4, "invalid_row", "1997-13-01")
    again = CliRunner().invoke(app, args)
    assert re.search(r"skipped as duplicates\s+│ 2\s", again.output), again.output
    assert re.search(r"imported\s+│ 0\s", again.output)


def test_import_refuses_a_mapping_that_names_missing_columns(database, program, tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("customer,day\n42,19970101\n")
    result = CliRunner().invoke(app, [
        "import", "events", str(path), "--program", program.slug, "--db", db_url(database),
        "--map", "total=usd"])
    assert result.exit_code == 2
    assert "invalid_mapping" in result.output and "usd" in result.output
