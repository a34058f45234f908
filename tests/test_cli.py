"""The ``patron`` command: schema, programs, keys, sweeps and the demo seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from patron.auth.service import Role, authenticate
from patron.cli.main import app
from patron.clock import SystemClock
from patron.errors import Unauthorized
from patron.db import create_database
from patron.demo.seed import DUPLICATES
from patron.demo.together import FAMILY, FRIENDS
from patron.households import service as households
from patron.ledger import service as ledger
from patron.members.repository import page_members
from patron.memberships import service as memberships
from patron.program.service import get_program_by_slug
from patron.program.versions import get_version
from patron.referrals import service as referrals
from patron.tiers import service as tiers

runner = CliRunner()
DEMO_DOCUMENT = Path(__file__).parents[1] / "src/patron/program/examples/demo_coffee.yaml"


def test_db_programs_keys_and_jobs(tmp_path):
    url = str(tmp_path / "cli.db")
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    made = runner.invoke(app, ["programs", "create", "acme", "--name", "Acme", "--db", url])
    assert made.exit_code == 0, made.output
    again = runner.invoke(app, ["programs", "create", "acme", "--name", "Acme", "--db", url])
    assert again.exit_code == 2 and "program_exists" in again.output
    key = runner.invoke(app, ["keys", "create", "--program", "acme", "--role", "integration",
                              "--db", url])
    assert key.exit_code == 0 and key.output.strip().startswith("ptn_")
    missing = runner.invoke(app, ["keys", "create", "--program", "nope", "--db", url])
    assert missing.exit_code == 2 and "program_not_found" in missing.output
    assert runner.invoke(app, ["jobs", "run", "--db", url]).exit_code == 0


def test_keys_list_rotate_and_revoke(tmp_path):
    url = str(tmp_path / "keys.db")
    runner.invoke(app, ["db", "upgrade", "--db", url])
    runner.invoke(app, ["programs", "create", "acme", "--name", "Acme", "--db", url])
    old = runner.invoke(app, ["keys", "create", "--program", "acme", "--role", "analyst",
                              "--name", "bi", "--db", url]).output.strip()
    listed = runner.invoke(app, ["keys", "list", "--program", "acme", "--db", url])
    assert listed.exit_code == 0 and "analyst" in listed.output and "bi" in listed.output
    assert old.split("_")[2] not in listed.output  # never the secret
    new = runner.invoke(app, ["keys", "rotate", "1", "--program", "acme", "--db", url])
    assert new.exit_code == 0 and new.output.strip().startswith("ptn_")
    db = create_database(url)

    def who(token):
        return db.read(lambda conn: authenticate(conn, token))

    assert who(new.output.strip()).role == Role.ANALYST
    with pytest.raises(Unauthorized):
        who(old)
    assert runner.invoke(app, ["keys", "revoke", "1", "--program", "acme", "--db", url]
                         ).exit_code == 2  # revoked already: api_key_not_found
    assert runner.invoke(app, ["keys", "revoke", "2", "--program", "acme", "--db", url]
                         ).exit_code == 0
    with pytest.raises(Unauthorized):
        who(new.output.strip())
    everything = runner.invoke(app, ["keys", "list", "--program", "acme", "--revoked",
                                     "--db", url]).output
    assert everything.count("analyst") == 2
    assert "analyst" not in runner.invoke(app, ["keys", "list", "--program", "acme",
                                                "--db", url]).output


def test_keys_are_named_by_their_public_prefix(tmp_path):
    """rotate and revoke take a key's prefix as `keys list` shows it, so a key can be named
    without its id; a revoked key's prefix, another program's, or a malformed one is not."""
    url = str(tmp_path / "keys.db")
    runner.invoke(app, ["db", "upgrade", "--db", url])
    for slug in ("acme", "other"):
        runner.invoke(app, ["programs", "create", slug, "--name", slug, "--db", url])
    old = runner.invoke(app, ["keys", "create", "--program", "acme", "--role", "analyst",
                              "--name", "bi", "--db", url]).output.strip()
    assert old[:16] in runner.invoke(app, ["keys", "list", "--program", "acme",
                                           "--db", url]).output
    elsewhere = runner.invoke(app, ["keys", "rotate", old[:16], "--program", "other",
                                    "--db", url])
    assert elsewhere.exit_code == 2 and "api_key_not_found" in elsewhere.output
    new = runner.invoke(app, ["keys", "rotate", old[:16], "--program", "acme", "--db", url])
    assert new.exit_code == 0, new.output
    fresh = new.output.strip()
    db = create_database(url)
    assert db.read(lambda conn: authenticate(conn, fresh)).role == Role.ANALYST
    again = runner.invoke(app, ["keys", "revoke", old[:16], "--program", "acme", "--db", url])
    assert again.exit_code == 2 and "api_key_not_found" in again.output
    for wrong in ("ptn_zz", "key-2", fresh[:15]):
        refused = runner.invoke(app, ["keys", "revoke", wrong, "--program", "acme",
                                      "--db", url])
        assert refused.exit_code == 2 and "api_key_not_found" in refused.output, wrong
    gone = runner.invoke(app, ["keys", "revoke", fresh, "--program", "acme", "--db", url])
    assert gone.exit_code == 0 and "key 2 revoked" in gone.output
    with pytest.raises(Unauthorized):
        db.read(lambda conn: authenticate(conn, fresh))


def test_demo_seeds_through_the_pipeline(tmp_path):
    url = str(tmp_path / "demo.db")
    result = runner.invoke(app, ["demo", "--db", url, "--members", "60", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert "admin key:" in result.output
    db = create_database(url)

    def check(conn):
        program = get_program_by_slug(conn, "demo-coffee")
        members = page_members(conn, program.id, None, 1000)
        # the planted duplicates too, the household owner's family and friends
        assert len(members) == 60 + 2 * len(DUPLICATES) + len(FAMILY) + len(FRIENDS)
        assert {m.join_channel for m in members} <= {"web", "pos", "app"}
        first, current = get_version(conn, program, 1), get_version(conn, program)
        assert first.source == DEMO_DOCUMENT.read_text(encoding="utf-8")
        assert current.source.startswith(first.source)  # the campaign's version adds it
        assert [c.id for c in current.document.campaigns] == ["regulars_double"]
        document = current.document  # and a badge, a challenge and a streak for the portal
        assert ([b.id for b in document.badges], [c.id for c in document.challenges],
                [s.id for s in document.streaks]) == (["regular"], ["three_visits"],
                                                      ["weekly_coffee"])
        given = {kind for (kind,) in conn.exec_driver_sql(
            "SELECT DISTINCT kind FROM engagement_awards")}
        moving = {kind for (kind,) in conn.exec_driver_sql(
            "SELECT DISTINCT kind FROM member_engagement")}
        assert {"badge", "challenge"} <= given and moving == {"badge", "challenge", "streak"}
        assert program.settings.points_name == "Beans"
        _check_together(conn, program)
        return conn.exec_driver_sql(
            "SELECT count(*), count(DISTINCT member_id) FROM events").one()
    events, members_with_events = db.read(check)
    # the duplicates and one of the friends have bought nothing
    assert events > 100 and members_with_events == 60 + len(FAMILY) + 1
    measured = runner.invoke(app, ["analytics", "campaign", "regulars_double", "--program",
                                   "demo-coffee", "--format", "json", "--db", url])
    assert measured.exit_code == 0, measured.output
    results = json.loads(measured.output)
    assert results["status"] == "running" and results["points_issued"] > 0
    assert results["treatment"]["members"] > 0 and results["holdout"]["members"] > 0
    assert results["spend_lift"]["low"] is not None
    swept = runner.invoke(app, ["jobs", "run", "--features", "--db", url])
    assert swept.exit_code == 0, swept.output
    assert "features" in swept.output
    refreshed = db.read(lambda conn: conn.exec_driver_sql(
        "SELECT count(*) FROM member_features").scalar())
    # every member row is refreshed, the household's pool holder too
    assert refreshed == 60 + 2 * len(DUPLICATES) + len(FAMILY) + len(FRIENDS) + 1


def _check_together(conn, program):
    """Member 1 pools Beans with a partner and a child and has referred two friends (one
    qualified, one pending); member 2 pays for the Coffee Club and is Gold by it."""
    now = SystemClock().now()
    [(household_id, _)] = households.household_of(conn, program.id, [1]).values()
    household = households.get_household(conn, program, household_id)
    assert [m.role for m in household.members] == ["owner", "adult", "child"]
    assert household.members[0].member_id == 1
    pool = households.household_balance(conn, program, household_id)
    assert pool.pooled_points and pool.available > 0
    assert ledger.balance(conn, program, household.members[1].member_id).pooled
    referred = referrals.summary(conn, program, 1, now)
    assert referred["counts"] == {"qualified": 1, "pending": 1}
    [plan] = memberships.list_memberships(conn, program, 2, now).items
    assert (plan.plan_id, plan.state) == ("coffee_club", "active")
    assert tiers.member_tier(conn, program, 2, now)["tier"]["id"] == "gold"


def _patron(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATRON_DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "patron.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    done.stdout = " ".join((done.stdout + done.stderr).split())  # one line, either stream
    return done


def test_a_command_without_a_database_says_where_to_get_one(tmp_path):
    """No silent empty patron.db and no traceback: the command names the database it
    looked for, and points at the demo's when there is one beside it."""
    for args in (["program", "show", "--program", "demo"], ["jobs", "run"],
                 ["analytics", "rfm", "--program", "demo"]):
        done = _patron(tmp_path, *args)
        assert done.returncode == 2, done.stderr
        assert "database_not_ready" in done.stdout and "no database at patron.db" in done.stdout
        assert "Traceback" not in done.stdout
    assert not (tmp_path / "patron.db").exists()
    create_database(str(tmp_path / "patron-demo.db")).read(lambda conn: None)
    hinted = _patron(tmp_path, "jobs", "run")
    assert hinted.returncode == 2 and "--db patron-demo.db" in hinted.stdout
    empty = _patron(tmp_path, "jobs", "run", "--db", "patron-demo.db")
    assert empty.returncode == 2 and "holds no Patron schema" in empty.stdout


def test_demo_on_postgresql_and_reset(postgresql_url):
    name = make_url(postgresql_url).database + "_demo"
    admin = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgresql_url).set(database=name).render_as_string(hide_password=False)
    try:
        for extra in ([], ["--reset"]):  # the reset run starts again from empty tables
            result = runner.invoke(app, ["demo", "--db", url, "--members", "20", "--no-serve",
                                         *extra])
            assert result.exit_code == 0, result.output
            assert f"PATRON_DATABASE_URL={url}" in result.output
            db = create_database(url)
            members = db.read(lambda conn: conn.exec_driver_sql(
                "SELECT count(*) FROM members").scalar())
            # the planner has the history's statistics at once (autovacuum may be off)
            planned = db.read(lambda conn: conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'ledger_entries'").scalar())
            db.dispose()
            # with the family and friends, and the household's pool holder row
            assert members == 20 + 2 * len(DUPLICATES) + len(FAMILY) + len(FRIENDS) + 1
            assert planned > 20
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
