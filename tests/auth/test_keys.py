"""API keys: expiry, revocation seen at once by every process, per-key rate limits."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from patron.api.app import create_app
from patron.auth.service import InvalidKeySettings, Role, create_key, revoke_key, rotate_key
from patron.auth.tables import api_keys
from patron.cli.main import app as cli
from patron.config import get_settings


def issue(api, **options):
    return api.db.transact(lambda conn: create_key(
        conn, program_id=api.program.id, role=Role.ADMIN, name="t", now=api.clock.now(),
        **options))


def call(client, key, path="/api/v1/members"):
    return client.get(path, headers={"Authorization": f"Bearer {key}"})


def test_an_expired_key_is_refused_with_its_own_code(api, clock):
    issued = issue(api, expires_at=clock.now() + timedelta(days=1))
    assert call(api.client, issued.key).status_code == 200
    clock.advance(days=1)
    expired = call(api.client, issued.key)
    assert expired.status_code == 401 and expired.json()["code"] == "api_key_expired"
    assert expired.json()["request_id"]


def test_rotation_gives_the_new_key_its_own_expiry(api, clock):
    issued = issue(api, expires_at=clock.now() + timedelta(days=1))
    fresh = api.db.transact(lambda conn: rotate_key(
        conn, program_id=api.program.id, key_id=issued.id, now=clock.now(),
        expires_at=clock.now() + timedelta(days=90)))
    assert call(api.client, issued.key).status_code == 401
    clock.advance(days=30)
    assert call(api.client, fresh.key).status_code == 200
    clock.advance(days=60)
    assert call(api.client, fresh.key).json()["code"] == "api_key_expired"


def test_key_settings_are_checked(api, clock):
    with pytest.raises(InvalidKeySettings):
        issue(api, expires_at=clock.now() - timedelta(seconds=1))
    with pytest.raises(InvalidKeySettings):
        issue(api, rate_limit="lots")


def test_revocation_is_seen_at_once_by_every_server_process(api, database, clock):
    """Two apps on one database stand for two workers: revoking through one (or the
    CLI) is refused by the other on its very next request."""
    issued = issue(api)
    with TestClient(create_app(database, clock)) as other:
        assert call(api.client, issued.key).status_code == 200
        assert call(other, issued.key).status_code == 200
        database.transact(lambda conn: revoke_key(conn, key_id=issued.id, now=clock.now()))
        assert call(other, issued.key).status_code == 401
        assert call(api.client, issued.key).status_code == 401


def test_a_key_past_its_rate_limit_gets_429_and_others_do_not(api):
    slow = issue(api, rate_limit="3/hour")
    other = issue(api, rate_limit="3/hour")
    assert [call(api.client, slow.key).status_code for _ in range(3)] == [200] * 3
    limited = call(api.client, slow.key)
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert 0 < int(limited.headers["Retry-After"]) <= 3600
    assert limited.headers["content-type"].startswith("application/problem+json")
    assert call(api.client, other.key).status_code == 200


def test_the_setting_limits_keys_without_their_own(database, program, clock, monkeypatch):
    monkeypatch.setenv("PATRON_RATE_LIMIT", "2/hour")
    get_settings.cache_clear()
    try:
        app = create_app(database, clock)
    finally:
        get_settings.cache_clear()
    key = database.transact(lambda conn: create_key(
        conn, program_id=program.id, role=Role.ADMIN, name="t", now=clock.now())).key
    with TestClient(app) as client:
        assert [call(client, key).status_code for _ in range(3)] == [200, 200, 429]


def test_workers_share_the_limit_through_redis(database, program, clock, monkeypatch):
    """Two apps with a Redis store stand for two workers: the key's limit holds across both."""
    monkeypatch.setenv("PATRON_RATE_LIMIT_STORAGE", "redis://127.0.0.1:6379")
    get_settings.cache_clear()
    try:
        first, second = create_app(database, clock), create_app(database, clock)
    finally:
        get_settings.cache_clear()
    issued = database.transact(lambda conn: create_key(
        conn, program_id=program.id, role=Role.ADMIN, name="t", now=clock.now(),
        rate_limit="3/hour"))
    with TestClient(first) as a, TestClient(second) as b:
        assert [call(a, issued.key).status_code, call(b, issued.key).status_code,
                call(a, issued.key).status_code] == [200, 200, 200]
        assert call(b, issued.key).status_code == 429


def test_keys_create_with_expiry_and_limit_from_the_command_line(api, database):
    url = database.engine.url.render_as_string(hide_password=False)
    runner = CliRunner()
    made = runner.invoke(cli, ["keys", "create", "--program", api.program.slug,
                               "--expires-in", "90d", "--rate-limit", "100/minute",
                               "--name", f"cli-{uuid.uuid4().hex[:6]}", "--db", url])
    assert made.exit_code == 0, made.output
    prefix = made.output.strip().split("_")[1]
    row = database.read(lambda conn: conn.execute(
        select(api_keys).where(api_keys.c.prefix == prefix)).one())
    assert row.rate_limit == "100/minute"
    assert timedelta(days=89) < row.expires_at - row.created_at <= timedelta(days=90)
    bad = runner.invoke(cli, ["keys", "create", "--program", api.program.slug,
                              "--expires-in", "soon", "--db", url])
    assert bad.exit_code == 2 and "--expires-in" in bad.output
    listed = runner.invoke(cli, ["keys", "list", "--program", api.program.slug, "--db", url])
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.output.splitlines() if f"ptn_{prefix}" in line)
    assert line.split()[0] == str(row.id) and "100/minute" in line
