"""The member portal over HTTP, on SQLite and PostgreSQL: one-time links, sessions, CSRF,
each member seeing only their own, redeeming."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from patron.config import get_settings
from tests.rewards.factories import Store
from tests.web.test_console import csrf_of


def portal_app(app):
    return next(r.app for r in app.routes if getattr(r, "path", None) == "/portal")


class Portal:
    """A phone's browser on the portal, and the admin API that makes its links."""

    def __init__(self, client: TestClient, api, store: Store) -> None:
        self.client, self.api, self.store = client, api, store

    def member(self, points: int = 0, email: str | None = None) -> tuple[int, str]:
        email = email or f"m-{uuid.uuid4().hex[:8]}@example.com"
        made = self.api.post("/members", json={
            "identities": [{"type": "email", "value": email}], "profile": {"name": "Ada Byron"}})
        assert made.status_code == 201, made.text
        if points:
            self.store.give(made.json()["id"], points)
        return made.json()["id"], email

    def link(self, member_id: int) -> str:
        made = self.api.post(f"/members/{member_id}/portal-links")
        assert made.status_code == 201, made.text
        return made.json()["url"].split("testserver", 1)[1]

    def sign_in(self, member_id: int) -> str:
        opened = self.client.get(self.link(member_id), follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/portal/"
        return csrf_of(self.client.get("/portal/").text)

    def ask(self, identity: str):
        token = csrf_of(self.client.get("/portal/login").text)
        return self.client.post("/portal/login", data={"identity": identity,
                                                       "csrf_token": token})


@pytest.fixture
def portal(app, api):
    store = Store(api.db, api.clock, program=api.program,
                  tiers={"metric": "tier_points", "window": {"type": "calendar_year"},
                         "levels": [{"id": "blue", "name": "Blue", "threshold": 0},
                                    {"id": "gold", "name": "Gold", "threshold": 1000}]})
    api.program = store.program
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Portal(client, api, store)


def test_a_link_signs_in_once_into_a_protected_session(portal):
    member_id, _ = portal.member(points=120)
    path = portal.link(member_id)
    assert path.startswith("/portal/auth?token=")
    opened = portal.client.get(path, follow_redirects=False)
    assert opened.status_code == 303
    cookie = next(c for c in opened.headers.get_list("set-cookie")
                  if c.startswith("patron_portal="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "path=/portal" in cookie.lower()
    home = portal.client.get("/portal/")
    assert 'id="available">120<' in home.text and "Ada Byron" in home.text
    assert "Earn 1,000 more points by 31 Dec 2026 to reach Gold." in home.text
    portal.client.cookies.clear()
    again = portal.client.get(path, follow_redirects=False)
    assert again.status_code == 400 and "This link has expired" in again.text
    assert portal.client.get("/portal/", follow_redirects=False).status_code == 303


def test_an_expired_or_unknown_link_opens_nothing(portal, clock):
    member_id, _ = portal.member()
    path = portal.link(member_id)
    clock.advance(minutes=16)
    expired = portal.client.get(path, follow_redirects=False)
    assert expired.status_code == 400 and "ask for a new one" in expired.text.lower()
    unknown = portal.client.get("/portal/auth?token=not-a-token", follow_redirects=False)
    assert unknown.status_code == 400 and "set-cookie" not in unknown.headers
    assert portal.client.get("/portal/", follow_redirects=False).headers["location"] == \
        "/portal/login"


def test_the_login_form_says_the_same_for_known_and_unknown_identities(portal, app):
    _, email = portal.member()
    known = portal.ask(email.upper())
    unknown = portal.ask("nobody-here@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text and "a link is on its way" in known.text
    assert "/portal/auth?token=" not in known.text
    portal_app(app).state.dev_links = True
    shown = portal.ask(email)
    link = re.search(r'href="http://testserver(/portal/auth\?token=[^"]+)"', shown.text)
    assert link and "/portal/auth?token=" not in portal.ask("nobody-here@example.com").text
    assert portal.client.get(link.group(1), follow_redirects=False).status_code == 303


def test_posts_without_the_session_token_are_refused(portal):
    member_id, _ = portal.member(points=500)
    portal.sign_in(member_id)
    forged = portal.client.post("/portal/rewards/coffee/redeem",
                                data={"idempotency_key": "k", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert portal.store.points(member_id) == 500
    assert portal.client.post("/portal/logout", follow_redirects=False).status_code == 403
    no_form = portal.client.get("/portal/login")
    login = portal.client.post("/portal/login", data={"identity": "x@example.com",
                                                      "csrf_token": "guess"})
    assert no_form.status_code == 200 and login.status_code == 403


def test_redeem_then_see_the_coupon_once_even_if_sent_twice(portal):
    member_id, _ = portal.member(points=450)
    token = portal.sign_in(member_id)
    page = portal.client.get("/portal/rewards").text
    assert "Free coffee" in page and "10 left" in page
    key = re.search(r'name="idempotency_key" value="([^"]+-coffee)"', page).group(1)
    for _ in range(2):
        done = portal.client.post("/portal/rewards/coffee/redeem", follow_redirects=False,
                                  data={"idempotency_key": key, "csrf_token": token})
        assert done.status_code == 303
    shown = portal.client.get(done.headers["location"])
    assert shown.status_code == 200 and 'id="coupon-code">' in shown.text
    assert portal.store.points(member_id) == 350
    history = portal.client.get("/portal/history").text
    assert "Redeemed: Free coffee" in history and "opening balance" in history


def test_too_few_points_shows_beside_the_reward(portal):
    member_id, _ = portal.member(points=120)
    token = portal.sign_in(member_id)
    refused = portal.client.post("/portal/rewards/tasting/redeem",
                                 data={"idempotency_key": "k1", "csrf_token": token})
    assert refused.status_code == 200 and 'id="error-tasting"' in refused.text
    assert portal.store.points(member_id) == 120
    unknown = portal.client.post("/portal/rewards/nothing/redeem",
                                 data={"idempotency_key": "k2", "csrf_token": token})
    assert unknown.status_code == 200 and 'role="alert"' in unknown.text


def test_a_member_sees_only_their_own(portal):
    first, _ = portal.member(points=300)
    redeemed = portal.store.redeem(first, "coffee")
    second, _ = portal.member(points=7)
    portal.sign_in(second)
    assert portal.client.get(f"/portal/redemptions/{redeemed.id}").status_code == 404
    assert 'id="available">7<' in portal.client.get("/portal/").text
    assert "Redeemed: Free coffee" not in portal.client.get("/portal/history").text


def test_history_pages_with_htmx_and_referrals_show_the_link(portal):
    member_id, _ = portal.member()
    for _ in range(20):
        portal.store.give(member_id, 5)
    portal.sign_in(member_id)
    first = portal.client.get("/portal/history").text
    before = re.search(r'hx-get="/portal/history\?before=(\d+)"', first).group(1)
    more = portal.client.get(f"/portal/history?before={before}",
                             headers={"HX-Request": "true"})
    assert "<html" not in more.text and more.text.count('class="line"') == 5
    refer = portal.client.get("/portal/referrals").text
    code = re.search(r'id="referral-code">([A-Z0-9]+)<', refer).group(1)
    assert code in refer and 'id="friends-joined">0<' in refer


def test_the_admin_api_makes_links_for_members_of_its_program_only(portal):
    assert portal.api.post("/members/999999999/portal-links").status_code == 404
    member_id, _ = portal.member()
    assert portal.api.post(f"/members/{member_id}/portal-links",
                           role="analyst").status_code == 403


def test_expiring_soon_lists_only_what_expires_within_the_notice_period(portal, clock,
                                                                         monkeypatch):
    """Points expiring next year are not "soon": the box lists what the expiry notices
    would announce (``PATRON_EXPIRY_NOTICE_DAYS``), and says when nothing does."""
    portal.store.settings["expiry"] = {"days": 90}
    portal.store.publish()
    member_id, _ = portal.member(points=300)
    portal.sign_in(member_id)
    home = portal.client.get("/portal/").text
    assert "None of your points expire in the next 30 days." in home
    assert 'id="expiring"' not in home
    clock.advance(days=70)
    portal.store.give(member_id, 40)  # expires 90 days from now: not within 30 days
    portal.sign_in(member_id)  # a portal session lasts 30 days
    home = portal.client.get("/portal/").text
    listed = re.search(r'<ul class="expiring" id="expiring">(.*?)</ul>', home, re.S).group(1)
    assert listed.count("<li>") == 1 and "<strong>300</strong> points on" in listed
    monkeypatch.setenv("PATRON_EXPIRY_NOTICE_DAYS", "7")
    get_settings.cache_clear()
    try:
        home = portal.client.get("/portal/").text
        assert "None of your points expire in the next 7 days." in home
    finally:
        monkeypatch.delenv("PATRON_EXPIRY_NOTICE_DAYS")
        get_settings.cache_clear()
