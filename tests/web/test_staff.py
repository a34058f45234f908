"""Staff accounts: passwords, sessions and the ``patron staff`` command."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from patron.auth.service import Permission, Role
from patron.auth.staff import (BadCredentials, StaffEmailTaken, authenticate, close_session,
                               create_staff, open_session, session_for)
from patron.cli.main import app as cli
from patron.errors import Forbidden, InvalidInput

PASSWORD = "correct horse battery"


def _staff(database, program, clock, role=Role.ANALYST, email="ana@example.com"):
    return database.transact(lambda conn: create_staff(
        conn, program_id=program.id, email=email, password=PASSWORD, role=role,
        name="Ana", now=clock.now()))


def test_a_password_opens_a_session_that_ends(database, program, clock):
    account = _staff(database, program, clock)
    assert database.transact(lambda conn: authenticate(
        conn, email=" ANA@example.com", password=PASSWORD)) == account
    opened = database.transact(lambda conn: open_session(conn, account, clock.now()))
    live = database.read(lambda conn: session_for(conn, opened.token, clock.now()))
    assert live.program_id == program.id and live.role is Role.ANALYST
    assert live.csrf_token and live.csrf_token != opened.token
    database.transact(lambda conn: close_session(conn, opened.token, clock.now()))
    assert database.read(lambda conn: session_for(conn, opened.token, clock.now())) is None


def test_a_session_expires_after_a_working_day(database, program, clock):
    account = _staff(database, program, clock, email="late@example.com")
    opened = database.transact(lambda conn: open_session(conn, account, clock.now()))
    later = clock.now() + timedelta(hours=12, seconds=1)
    assert database.read(lambda conn: session_for(conn, opened.token, later)) is None
    assert database.read(lambda conn: session_for(conn, "made-up", clock.now())) is None


def test_wrong_password_and_unknown_email_fail_alike(database, program, clock):
    _staff(database, program, clock, email="bob@example.com")
    with pytest.raises(BadCredentials) as wrong:
        database.transact(lambda conn: authenticate(conn, email="bob@example.com",
                                                    password="nope nope nope"))
    with pytest.raises(BadCredentials) as unknown:
        database.transact(lambda conn: authenticate(conn, email="nobody@example.com",
                                                    password=PASSWORD))
    assert wrong.value.detail == unknown.value.detail


def test_email_is_unique_per_program_and_passwords_are_long(database, program, clock):
    _staff(database, program, clock, email="cy@example.com")
    with pytest.raises(StaffEmailTaken):
        _staff(database, program, clock, email="CY@example.com")
    with pytest.raises(InvalidInput):
        database.transact(lambda conn: create_staff(
            conn, program_id=program.id, email="d@example.com", password="short",
            role=Role.ADMIN, name=None, now=clock.now()))


def test_roles_mean_what_they_mean_for_api_keys(database, program, clock):
    account = _staff(database, program, clock, email="an@example.com")
    session = database.transact(lambda conn: open_session(conn, account, clock.now())).session
    assert session.may(Permission.ANALYTICS) and not session.may(Permission.WRITE)
    with pytest.raises(Forbidden):
        session.require(Permission.ADMIN)


def test_staff_create_command(tmp_path):
    runner = CliRunner()
    url = str(tmp_path / "cli.db")
    assert runner.invoke(cli, ["db", "upgrade", "--db", url]).exit_code == 0
    assert runner.invoke(cli, ["programs", "create", "acme", "--name", "Acme",
                               "--db", url]).exit_code == 0
    args = ["staff", "create", "--program", "acme", "--email", "ops@acme.example",
            "--role", "admin", "--db", url]
    prompted = runner.invoke(cli, args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output and "created" in prompted.output
    again = runner.invoke(cli, [*args, "--password-stdin"], input=f"{PASSWORD}\n")
    assert again.exit_code == 2 and "staff_email_taken" in again.output
    other = runner.invoke(cli, [*args[:4], "--email", "bi@acme.example", "--role", "analyst",
                                "--db", url, "--password-stdin"], input="short\n")
    assert other.exit_code == 2 and "at least" in other.output
