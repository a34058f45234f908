"""The demo's planted duplicates are what ``patron members match`` finds on a demo database."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from typer.testing import CliRunner

from patron.cli.main import app
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.demo.seed import DUPLICATES, demo_document, seed

runner = CliRunner()
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_training_and_matching_on_the_demo_find_the_planted_duplicates(tmp_path):
    url = str(tmp_path / "demo.db")
    database = create_database(url)
    upgrade(database)
    result = seed(database, NOW, members=150)
    database.dispose()
    assert len(result.duplicates) == len(DUPLICATES)

    trained = runner.invoke(app, ["members", "match", "--db", url, "--train"])
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "pairs.csv"
    matched = runner.invoke(app, ["members", "match", "--db", url, "--out", str(out)])
    assert matched.exit_code == 0, matched.output

    with out.open(encoding="utf-8") as pairs:
        found = {(int(row["member_a"]), int(row["member_b"])): float(row["probability"])
                 for row in csv.DictReader(pairs)}
    suggest = demo_document()[0].matching.suggest_probability
    planted = {tuple(sorted(pair)) for pair in result.duplicates}
    assert planted <= {pair for pair, probability in found.items() if probability >= suggest}
