"""``patron import`` from the command line: summary, exit codes, rejects file."""

from __future__ import annotations

import json
import re
from datetime import date

from typer.testing import CliRunner

from patron.cli.main import app
from patron.members import repository as member_repository
from patron.members.service import get_member


def db_url(database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


def member_id(database, program, kind: str, value: str) -> int:
    return database.read(lambda conn: member_repository.members_by_identity(
        conn, program.id, [(kind, value)]))[(kind, value)]


def birthdate_of(database, program, member: int) -> date | None:
    return database.read(lambda conn: get_member(conn, program, member)).profile.birthdate


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


def test_birthdates_are_dates_not_timestamps(database, program, tmp_path):
    path = tmp_path / "members.csv"
    path.write_text("mail,joined,birthdate\n"
                    "ann@example.com,20190301,1990-05-01\n"
                    "bob@example.com,20190302,1985-12-24\n")
    args = ["import", "members", str(path), "--program", program.slug, "--db", db_url(database),
            "--map", "email=mail", "--map", "joined_at=joined", "--time-format", "%Y%m%d"]
    iso = CliRunner().invoke(app, args)
    assert iso.exit_code == 0, iso.output  # --time-format is for joined_at only
    ann = member_id(database, program, "email", "ann@example.com")
    assert birthdate_of(database, program, ann) == date(1990, 5, 1)

    dmy = tmp_path / "more.csv"
    dmy.write_text("mail,joined,birthdate\ncy@example.com,20200101,24/12/1985\n")
    own = CliRunner().invoke(app, [*args[:2], str(dmy), *args[3:], "--date-format", "%d/%m/%Y"])
    assert own.exit_code == 0, own.output
    cy = member_id(database, program, "email", "cy@example.com")
    assert birthdate_of(database, program, cy) == date(1985, 12, 24)
    wrong = CliRunner().invoke(app, [*args[:2], str(dmy), *args[3:]])
    assert wrong.exit_code == 1 and "ISO" in (tmp_path / "more.csv.rejects.jsonl").read_text()


def counted(output: str, label: str) -> int:
    found = re.search(rf"{label}\s+│ (\d+)\s", output)
    assert found, output
    return int(found.group(1))


def test_a_file_imported_again_under_another_name_is_skipped(database, program, tmp_path):
    """Ids of rows without one come from their order id or their content, not the file."""
    orders = "order,customer,day,usd\nA1,42,19970101,29.33\nA2,42,19970118,29.73\n"
    plain = "customer,day,usd\n7,19970101,5.00\n7,19970101,5.00\n8,19970101,5.00\n"
    people = "mail,name\nann@example.com,Ann\nbob@example.com,Bob\n"
    runs = [("events", orders, ["--map", "order_id=order"], 2),
            ("events", plain, [], 3),  # the same purchase twice that day: two purchases
            ("members", people, ["--map", "email=mail"], 2)]
    for kind, text, extra, rows in runs:
        common = ["--program", program.slug, "--db", db_url(database), *extra]
        if kind == "events":
            common += ["--map", "external_id=customer", "--map", "occurred_at=day", "--map",
                       "total=usd", "--set", "type=purchase", "--money", "major",
                       "--time-format", "%Y%m%d"]
        outputs = []
        for name in ("export.csv", "export-copy.csv"):
            path = tmp_path / f"{kind}-{rows}-{name}"
            path.write_text(text)
            result = CliRunner().invoke(app, ["import", kind, str(path), *common])
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
        first, again = outputs
        assert counted(first, "imported") == rows
        assert (counted(again, "imported"), counted(again, "skipped as duplicates"),
                counted(again, "rejected")) == (0, rows, 0)


def test_import_events_csv_with_order_lines(database, program, tmp_path):
    path = tmp_path / "receipts.csv"
    path.write_text("receipt,customer,day,item,price\n"
                    "R1,42,19970101,cd-1,10.00\nR1,42,19970101,cd-2,5.50\n"
                    "R2,42,19970102,cd-3,3.00\nR1,42,19970101,cd-4,1.00\n")
    args = ["import", "events", str(path), "--program", program.slug, "--db", db_url(database),
            "--map", "order_id=receipt", "--map", "external_id=customer", "--map",
            "occurred_at=day", "--map", "line.sku=item", "--map", "line.amount=price",
            "--set", "type=purchase", "--money", "major", "--time-format", "%Y%m%d"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # the row of R1 after R2
    assert (counted(result.output, "read"), counted(result.output, "imported"),
            counted(result.output, "rejected")) == (4, 2, 1)
    assert "split_order" in result.output
    [reject] = [json.loads(x) for x in (tmp_path / "receipts.csv.rejects.jsonl").read_text()
                .splitlines()]
    assert (reject["line"], reject["code"]) == (5, "split_order")
