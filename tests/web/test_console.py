"""The console over HTTP: signing in and out, CSRF, roles, search and staff actions."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from fastapi.testclient import TestClient

from patron.auth.service import Role
from patron.auth.staff import create_staff
from tests.factories import member_payload

PASSWORD = "console password 1"


class Console:
    """A browser-like client signed in (or not) as a staff member of one program."""

    def __init__(self, client: TestClient, database, program, clock) -> None:
        self.client, self.database, self.program, self.clock = client, database, program, clock

    def staff(self, role: Role) -> str:
        email = f"{role.value}-{uuid.uuid4().hex[:6]}@example.com"
        self.database.transact(lambda conn: create_staff(
            conn, program_id=self.program.id, email=email, password=PASSWORD, role=role,
            name=role.value.title(), now=self.clock.now()))
        return email

    def login(self, email: str, password: str = PASSWORD, **extra):
        form = self.client.get("/console/login")
        token = csrf_of(form.text)
        return self.client.post("/console/login", follow_redirects=False, data={
            "email": email, "password": password, "csrf_token": token, **extra})

    def sign_in(self, role: Role) -> str:
        assert self.login(self.staff(role)).status_code == 303
        return csrf_of(self.client.get("/console/members").text)


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def console(app, database, program, clock):
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Console(client, database, program, clock)


@pytest.fixture
def member(api):
    return api.post("/members", json=member_payload(
        identities=[{"type": "phone", "value": "+1 415 555 0100"}],
        profile={"name": "Rosa Parks"})).json()


def test_pages_need_a_session(console):
    page = console.client.get("/console/members", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/login?next=/console/members"
    htmx = console.client.get("/console/", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/console/login")


def test_sign_in_sets_a_protected_cookie_and_goes_where_it_was_asked(console):
    email = console.staff(Role.ADMIN)
    done = console.login(email, next="/console/members")
    assert done.status_code == 303 and done.headers["location"] == "/console/members"
    cookie = [c for c in done.headers.get_list("set-cookie") if c.startswith("patron_console=")]
    assert "httponly" in cookie[0].lower() and "samesite=lax" in cookie[0].lower()
    elsewhere = console.login(email, next="https://evil.example/")
    assert elsewhere.headers["location"] == "/console/"


def test_wrong_password_and_unknown_email_read_the_same(console):
    email = console.staff(Role.ADMIN)
    wrong = console.login(email, password="not the password")
    unknown = console.login("nobody@example.com")
    assert wrong.status_code == unknown.status_code == 200
    assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
    assert console.client.get("/console/", follow_redirects=False).status_code == 303


def test_sign_in_without_the_form_token_is_refused(console):
    email = console.staff(Role.ADMIN)
    console.client.get("/console/login")
    forged = console.client.post("/console/login", data={
        "email": email, "password": PASSWORD, "csrf_token": "guess"}, follow_redirects=False)
    assert forged.status_code == 403


def test_logout_needs_the_token_and_ends_the_session(console):
    token = console.sign_in(Role.ANALYST)
    assert console.client.post("/console/logout", follow_redirects=False).status_code == 403
    assert console.client.get("/console/", follow_redirects=False).status_code == 200
    out = console.client.post("/console/logout", data={"csrf_token": token},
                              follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert console.client.get("/console/", follow_redirects=False).status_code == 303


def test_search_by_phone_in_another_format_and_by_name(console, member):
    console.sign_in(Role.ANALYST)
    by_phone = console.client.get("/console/members", params={"q": "(415) 555-0100"})
    assert f'/console/members/{member["id"]}"' in by_phone.text
    by_name = console.client.get("/console/members", params={"q": "rosa"},
                                 headers={"HX-Request": "true"})
    assert "Rosa Parks" in by_name.text and "<html" not in by_name.text
    nothing = console.client.get("/console/members", params={"q": "zzz-nobody"})
    assert "No member matches" in nothing.text


def test_an_admin_adjusts_points_once_per_form(console, member, api):
    token = console.sign_in(Role.ADMIN)
    path = f"/console/members/{member['id']}"
    key = re.search(r'name="idempotency_key" value="([^"]+)"',
                    console.client.get(path).text).group(1)
    form = {"points": "40", "reason": "Spilt coffee", "idempotency_key": key,
            "csrf_token": token}
    for _ in range(2):
        sent = console.client.post(f"{path}/adjustments", data=form, follow_redirects=False)
        assert sent.status_code == 303
    page = console.client.get(path).text
    assert 'id="balance-available">40<' in page and "Spilt coffee" in page
    assert api.get(f"/members/{member['id']}/balance").json()["available"] == 40
    [entry] = api.get(f"/members/{member['id']}/ledger").json()["items"]
    assert entry["actor"].startswith("staff:admin-")


def test_a_refused_adjustment_shows_beside_the_form(console, member):
    token = console.sign_in(Role.ADMIN)
    path = f"/console/members/{member['id']}"
    refused = console.client.post(f"{path}/adjustments", data={
        "points": "-500", "reason": "Too much", "idempotency_key": "k1", "csrf_token": token})
    assert refused.status_code == 200 and 'role="alert"' in refused.text
    assert "Too much" in refused.text  # the form keeps what was typed


def test_roles_limit_the_staff_actions(console, member):
    token = console.sign_in(Role.INTEGRATION)
    path = f"/console/members/{member['id']}"
    assert "Adjust points" not in console.client.get(path).text
    denied = console.client.post(f"{path}/adjustments", data={
        "points": "5", "reason": "x", "idempotency_key": "k2", "csrf_token": token})
    assert denied.status_code == 403
    blocked = console.client.post(f"{path}/status", data={
        "status": "blocked", "reason": "Card fraud", "csrf_token": token},
        follow_redirects=False)
    assert blocked.status_code == 303
    assert 'id="member-status">blocked<' in console.client.get(path).text


def test_staff_post_without_the_session_token_is_refused(console, member):
    console.sign_in(Role.ADMIN)
    path = f"/console/members/{member['id']}"
    forged = console.client.post(f"{path}/status", data={
        "status": "blocked", "reason": "x", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert 'id="member-status">active<' in console.client.get(path).text


def test_analysts_see_the_dashboard_and_others_a_note(console, api):
    api.post("/members", json=member_payload())
    console.sign_in(Role.ANALYST)
    page = console.client.get("/console/").text
    assert 'id="fig-members">1<' in page and 'id="chart-data"' in page
    console.client.cookies.clear()
    console.sign_in(Role.INTEGRATION)
    assert "does not include analytics" in console.client.get("/console/").text


def test_the_dashboard_lists_top_rewards_and_draws_rfm_segments(console, api):
    api.request("PUT", "/program", json={
        "name": "Rewards", "settings": {"currency": "USD", "pending_days": 0},
        "rewards": [{"id": "tote", "name": "Canvas tote", "type": "donation",
                     "cause": "Trees", "cost_points": 100}]}).raise_for_status()
    member = api.post("/members", json=member_payload()).json()["id"]
    api.post("/events", json={
        "id": "d-1", "type": "purchase", "member": {"id": member},
        "occurred_at": console.clock.now().isoformat(),
        "data": {"order_id": "D-1", "currency": "USD", "total": 25_00}}).raise_for_status()
    api.post(f"/members/{member}/adjustments", json={
        "points": 300, "reason": "welcome", "idempotency_key": "d-adj"}).raise_for_status()
    for n in range(2):
        api.post(f"/members/{member}/redemptions", json={
            "reward_id": "tote", "idempotency_key": f"d-r{n}"}).raise_for_status()
    console.sign_in(Role.ANALYST)
    page = console.client.get("/console/").text
    table = page[page.index('id="top-rewards"'):]
    assert "Canvas tote" in table and "<td>2</td>" in table  # two redemptions, one member
    charts = json.loads(re.search(
        r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S).group(1))
    assert sum(charts["rfm"]["members"]) == 1 and len(charts["rfm"]["labels"]) == 1


def test_an_unknown_member_is_a_page_not_a_crash(console):
    console.sign_in(Role.ANALYST)
    missing = console.client.get("/console/members/999999999")
    assert missing.status_code == 404 and "<h1>" in missing.text


def test_the_member_page_shows_consents_read_only(console, member, api):
    console.sign_in(Role.ANALYST)
    path = f"/console/members/{member['id']}"
    assert "None recorded." in console.client.get(path).text
    api.post(f"/members/{member['id']}/consents", json={"consents": [
        {"channel": "email", "granted": True, "source": "web", "notice": "v2"},
        {"channel": "sms", "granted": False}]}).raise_for_status()
    page = console.client.get(path).text
    consents = page[page.index('id="consents"'):]
    consents = consents[:consents.index("</ul>")]
    assert re.findall(r"(\w+) · (\w+): <strong>(\w+)</strong>", consents) == [
        ("email", "marketing", "granted"), ("sms", "marketing", "withdrawn")]
    assert "web, notice v2" in consents and "<form" not in consents
