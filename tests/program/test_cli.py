"""``patron program``: validate, schema, publish, versions, show and simulate."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from patron.cli.main import app
from patron.events.schemas import EventIn
from patron.flows.ingest import ingest
from patron.members.schemas import MemberCreate
from patron.flows.enrolment import create_member
from patron.program.service import get_program
from patron.program.document import program_json_schema_text
from tests.program.documents import (
    BASE,
    BIG,
    BIRTHDAY,
    DOUBLE,
    FIRST,
    as_yaml,
    document,
    purchase,
    review,
)

runner = CliRunner()
DEMO = "src/patron/program/examples/demo_coffee.yaml"


def run(*args: str):
    return runner.invoke(app, ["program", *args])


def url_of(database) -> str:
    return database.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def files(tmp_path):
    def write(name: str, text: str):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)
    return write


def test_validate_a_valid_document_summarises_its_rules():
    result = run("validate", DEMO)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "ok: Demo Coffee Rewards, 13 earn rule(s)"
    assert "  purchase: 7" in lines and "  referral: 2" in lines and "  eco_action: 1" in lines


def test_validate_lists_every_problem_as_path_message_and_exits_1(files):
    path = files("bad.yaml", as_yaml(document(
        {"id": "x", "name": "X", "on": "purchase", "when": "member.purchase_count ==",
         "points": {"fixed": 5}},
        {"id": "y", "name": "Y", "on": "purchase", "points": {"fixed": 0}, "exclusiv": True},
        currency="ABC")))
    result = run("validate", path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "settings.currency", "earn_rules[0].when", "earn_rules[1].points.fixed",
        "earn_rules[1].exclusiv"]
    assert lines[0] == "settings.currency: unknown ISO-4217 currency 'ABC'"
    assert "4 error(s)" in result.stderr


def test_validate_reports_a_yaml_syntax_error_with_its_position(files):
    result = run("validate", files("broken.yaml", "name: [unclosed\n"))
    assert result.exit_code == 1
    assert result.stdout.startswith("(document): YAML syntax error at ")


def test_schema_prints_or_writes_the_json_schema(tmp_path):
    printed = run("schema")
    assert printed.exit_code == 0
    schema = json.loads(printed.stdout)
    assert schema["title"] == "Patron program document"
    assert "earn_rules" in schema["properties"]
    target = tmp_path / "program.schema.json"
    written = run("schema", "--output", str(target))
    assert written.exit_code == 0
    assert target.read_text() == program_json_schema_text()


def test_publish_versions_and_show(database, program, files):
    db = url_of(database)
    text = as_yaml(document(BASE, FIRST))
    path = files("program.yaml", text)
    first = run("publish", path, "--program", program.slug, "--note", "bonus", "--db", db)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "published version 2"
    again = run("publish", path, "--program", program.slug, "--db", db)
    assert again.stdout.strip() == "unchanged: version 2 is already this document"
    invalid = run("publish", files("bad.yaml", "name: X\nearn_rules: 3\n"),
                  "--program", program.slug, "--db", db)
    assert invalid.exit_code == 1 and "earn_rules:" in invalid.stdout
    euros = run("publish", files("eur.yaml", as_yaml(document(BASE, currency="EUR"))),
                "--program", program.slug, "--db", db)
    assert euros.exit_code == 2 and "currency_change" in euros.output
    assert database.read(lambda conn: get_program(conn, program.id)).version == 2

    listed = run("versions", "--program", program.slug, "--db", db)
    assert listed.exit_code == 0, listed.output
    assert "2 (current)" in listed.stdout and "bonus" in listed.stdout
    shown = run("show", "--program", program.slug, "--db", db)
    assert shown.stdout == text  # as written, comment included
    older = run("show", "--program", program.slug, "--version", "1", "--db", db)
    assert older.exit_code == 0 and "per_currency_unit:" in older.stdout
    missing = run("show", "--program", program.slug, "--version", "9", "--db", db)
    assert missing.exit_code == 2 and "program_version_not_found" in missing.output


def _events_file(files, clock, member_id: int) -> str:
    at = clock.now() - timedelta(hours=3)
    bob = {"identity": {"type": "email", "value": "bob@example.com"}}
    lines = [json.dumps(purchase("e1", {"id": member_id}, 12_00, at)),
             json.dumps(purchase("e2", bob, 60_00, at + timedelta(minutes=1))),
             "not json",
             json.dumps(review("e3", bob, at + timedelta(minutes=2))), ""]
    return files("events.jsonl", "\n".join(lines))


def test_simulate_a_draft_alone_from_a_jsonl_file(files, clock):
    events = _events_file(files, clock, 1)
    draft = files("draft.yaml", as_yaml(document(DOUBLE, BIG)))
    result = run("simulate", draft, "--events", events, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["current"] is None
    assert {r["rule_id"]: r["draft"]["points_issued"] for r in report["rules"]} == {
        "base": 144, "big": 100}
    assert report["draft"]["events_read"] == 4
    assert report["draft"]["events_skipped"] == {"invalid_event": 1}
    table = run("simulate", draft, "--events", events)
    assert table.exit_code == 0, table.output
    assert "$1.22" in table.stdout  # 244 points at half a cent
    assert "big" in table.stdout


def test_simulate_compares_with_the_program_and_knows_its_members(database, program, files,
                                                                  clock):
    db = url_of(database)
    assert run("publish", files("v2.yaml", as_yaml(document(BASE, FIRST))),
               "--program", program.slug, "--db", db).exit_code == 0
    ann = database.transact(lambda conn: create_member(conn, program, MemberCreate.model_validate(
        {"identities": [{"type": "email", "value": "ann@example.com"}],
         "profile": {"birthdate": "1990-03-15"}}), clock.now()))
    draft = files("draft.yaml", as_yaml(document(DOUBLE, BIG, BIRTHDAY)))
    result = run("simulate", draft, "--events", _events_file(files, clock, ann.id),
                 "--program", program.slug, "--db", db, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["current"]["version"] == 2
    changes = {r["rule_id"]: (r["change"], r["net_points_change"]) for r in report["rules"]}
    assert changes == {"base": ("kept", 72), "big": ("added", 100), "birthday": ("added", 30),
                       "first": ("removed", -100)}
    table = run("simulate", draft, "--events", _events_file(files, clock, ann.id),
                "--program", program.slug, "--db", db)
    assert "current (v2)" in table.stdout and "first (removed)" in table.stdout


def test_simulate_needs_events_or_a_program(files):
    draft = files("draft.yaml", as_yaml(document(BASE)))
    result = run("simulate", draft)
    assert result.exit_code == 2 and "--events" in result.output
    invalid = run("simulate", files("bad.yaml", "name: X\nearn_rules: 3\n"), "--program", "x")
    assert invalid.exit_code == 1


def test_simulate_replays_recorded_events_in_a_date_range(database, program, files, clock):
    """Needs ingest: the events are recorded through it."""
    db = url_of(database)
    assert run("publish", files("v2.yaml", as_yaml(document(BASE, FIRST))),
               "--program", program.slug, "--db", db).exit_code == 0
    fresh = database.read(lambda conn: get_program(conn, program.id))
    batch = [EventIn.model_validate(purchase(f"r{n}", {"identity": {
        "type": "email", "value": f"m{n}@example.com"}}, 10_00 * n,
        clock.now() - timedelta(days=40 - n))) for n in range(1, 4)]
    outcomes = database.transact(lambda conn: ingest(conn, fresh, batch, now=clock.now(),
                                                     actor="test"))
    assert {o.status for o in outcomes} == {"processed"}
    draft = files("draft.yaml", as_yaml(document(DOUBLE, FIRST)))
    result = run("simulate", draft, "--program", program.slug, "--db", db,
                 "--from", "2026-01-22", "--to", "2026-01-24", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["draft"]["events_read"] == 2  # 21 and 22 January
    assert {r["rule_id"]: (r["current"]["points_issued"], r["draft"]["points_issued"])
            for r in report["rules"]} == {"base": (30, 60), "first": (100, 100)}
    assert "no events were replayed" not in run(
        "simulate", draft, "--program", program.slug, "--db", db,
        "--from", "2026-01-22", "--to", "2026-01-24").output
    counted = run("simulate", draft, "--program", program.slug, "--db", db,
                  "--to", "2026-01-24", "--days", "2", "--format", "json")
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout)["draft"]["events_read"] == 2  # the same two days
    both = run("simulate", draft, "--program", program.slug, "--db", db,
               "--from", "2026-01-22", "--days", "2")
    assert both.exit_code == 2 and "--from or --days" in both.output
    empty = run("simulate", draft, "--program", program.slug, "--db", db,
                "--from", "2020-01-01", "--to", "2020-02-01")
    assert empty.exit_code == 0 and "no events were replayed" in " ".join(empty.output.split())
