"""Every write leaves one audit row; reads leave none; a refused write leaves a failed one."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from patron.audit.tables import audit_log
from patron.auth.service import Role
from patron.auth.staff import create_staff, open_session
from patron.cli.main import app as cli
from patron.web.session import COOKIE, CSRF_HEADER
from tests.factories import member_payload


def rows(database, program_id):
    return database.read(lambda conn: [dict(r) for r in conn.execute(
        select(audit_log).where(audit_log.c.program_id == program_id)
        .order_by(audit_log.c.id)).mappings()])


def test_writes_are_audited_with_who_what_whom_and_request_id(api, database):
    member = api.post("/members", json=member_payload(), headers={"X-Request-ID": "r-1"}).json()
    api.post(f"/members/{member['id']}/adjustments", headers={"X-Request-ID": "r-2"},
             json={"points": 5, "reason": "welcome", "idempotency_key": "w1"})
    api.get(f"/members/{member['id']}")
    api.get("/members")
    log = rows(database, api.program.id)
    assert [(r["operation"], r["outcome"], r["request_id"]) for r in log] == [
        ("POST /api/v1/members", "succeeded", "r-1"),
        ("POST /api/v1/members/{member_id}/adjustments", "succeeded", "r-2")]
    adjustment = log[1]
    assert adjustment["member_id"] == member["id"]
    assert adjustment["actor"] == f"key:{adjustment['api_key_id']}"
    assert adjustment["at"] == api.clock.now()


def test_a_rolled_back_write_leaves_only_a_failed_row(api, database):
    member = api.post("/members", json=member_payload()).json()
    spend = api.post(f"/members/{member['id']}/spends",
                     json={"points": 500, "reason": "too much", "idempotency_key": "s1"},
                     headers={"X-Request-ID": "r-spend"})
    assert spend.status_code == 409
    [failed] = [r for r in rows(database, api.program.id) if r["request_id"] == "r-spend"]
    assert failed["outcome"] == "failed" and failed["status"] == 409
    assert failed["member_id"] == member["id"]
    invalid = api.post("/members", content=b"{\"identities\": 5}", headers={"Content-Type": "application/json",
                                                         "X-Request-ID": "r-bad"})
    assert invalid.status_code == 422
    [bad] = [r for r in rows(database, api.program.id) if r["request_id"] == "r-bad"]
    assert (bad["outcome"], bad["status"]) == ("failed", 422)


def test_an_unauthenticated_write_is_not_attributed_to_anyone(api, database):
    before = len(rows(database, api.program.id))
    assert api.client.post("/api/v1/members", json=member_payload()).status_code == 401
    assert len(rows(database, api.program.id)) == before


def test_get_audit_filters_and_pages(api, clock):
    first = api.post("/members", json=member_payload()).json()["id"]
    clock.advance(hours=1)
    second = api.post("/members", json=member_payload()).json()["id"]
    for n in range(3):
        api.post(f"/members/{second}/adjustments",
                 json={"points": 1, "reason": "x", "idempotency_key": f"a{n}"})
    everything = api.get("/audit").json()
    assert len(everything["items"]) == 5 and everything["next_cursor"] is None
    assert [i["id"] for i in everything["items"]] == sorted(
        (i["id"] for i in everything["items"]), reverse=True)
    assert len(api.get(f"/audit?member_id={second}").json()["items"]) == 3
    assert api.get(f"/audit?member_id={first}").json()["items"] == []
    since = (clock.now() - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    assert len(api.get("/audit", params={"since": since}).json()["items"]) == 4
    assert len(api.get("/audit", params={"until": since}).json()["items"]) == 1
    actor = everything["items"][0]["actor"]
    assert len(api.get("/audit", params={"actor": actor}).json()["items"]) == 5
    assert api.get("/audit", params={"actor": "key:0"}).json()["items"] == []
    page = api.get("/audit?limit=2").json()
    rest = api.get(f"/audit?limit=2&cursor={page['next_cursor']}").json()
    last = api.get(f"/audit?limit=2&cursor={rest['next_cursor']}").json()
    assert [i["id"] for i in page["items"] + rest["items"] + last["items"]] == [
        i["id"] for i in everything["items"]]
    assert last["next_cursor"] is None


def test_get_audit_is_for_admins_and_refuses_bad_input(api):
    assert api.get("/audit", role="integration").status_code == 403
    assert api.get("/audit", role="analyst").status_code == 403
    bad = api.get("/audit?cursor=abc")
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_cursor"
    naive = api.get("/audit?since=2026-01-01T00:00:00")
    assert naive.status_code == 422 and naive.json()["code"] == "validation_error"


def test_console_writes_are_audited_as_the_staff_account(app, api, database, clock):
    member = api.post("/members", json=member_payload()).json()
    account = database.transact(lambda conn: create_staff(
        conn, program_id=api.program.id, email="ops@example.com",
        password="correct horse battery", role=Role.ADMIN, name="Ops", now=clock.now()))
    opened = database.transact(lambda conn: open_session(conn, account, clock.now()))
    with TestClient(app, raise_server_exceptions=False) as browser:
        browser.cookies.set(COOKIE, opened.token)
        done = browser.post(f"/console/members/{member['id']}/adjustments",
                            data={"points": "7", "reason": "by hand", "idempotency_key": "c1"},
                            headers={CSRF_HEADER: opened.session.csrf_token,
                                     "X-Request-ID": "console-1"},
                            follow_redirects=False)
        assert done.status_code == 303
        browser.get(f"/console/members/{member['id']}")
    [row] = [r for r in rows(database, api.program.id) if r["request_id"] == "console-1"]
    assert row["actor"] == "staff:ops@example.com" and row["staff_account_id"] == account
    assert row["operation"] == "POST /console/members/{member_id}/adjustments"
    assert row["member_id"] == member["id"] and row["outcome"] == "succeeded"
    assert not [r for r in rows(database, api.program.id) if r["operation"].startswith("GET")]


def test_audit_list_command(api, database):
    api.post("/members", json=member_payload(), headers={"X-Request-ID": "cli-1"})
    url = database.engine.url.render_as_string(hide_password=False)
    listed = CliRunner().invoke(cli, ["audit", "list", "--program", api.program.slug,
                                      "--db", url])
    assert listed.exit_code == 0, listed.output
    assert "POST /api/v1/members" in listed.output and "cli-1" in listed.output
