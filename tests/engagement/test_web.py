"""Badges, challenges and streaks on the console's member page and the member portal's home,
where a member joins an opt-in challenge, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from patron.auth.service import Role
from tests.engagement.factories import COUPONS, SETTINGS, challenge, streak
from tests.factories import member_payload, purchase
from tests.web.test_console import Console
from tests.web.test_editor import _simulate, editor_text
from tests.web.test_portal import Portal

MARCH = {"starts": "2026-03-01", "ends": "2026-03-31"}


@pytest.fixture
def engaged(api):
    body = {"name": "P", "settings": SETTINGS, "coupons": COUPONS,
            "badges": [{"id": "first", "name": "First order", "on": ["purchase"],
                        "description": "Your first order",
                        "when": "member.purchase_count >= 1"},
                       {"id": "tenth", "name": "Ten orders", "on": ["purchase"],
                        "description": "Your tenth order",
                        "when": "member.purchase_count >= 10"}],
            "challenges": [challenge(**MARCH, reward={"points": 200}),
                           challenge(id="tour", name="Store tour", **MARCH, opt_in=True)],
            "streaks": [streak(milestones=[{"periods": 4, "reward": {"points": 40}}])]}
    assert api.request("PUT", "/program", json=body).status_code == 201
    made = api.post("/members", json={"identities": [
        {"type": "email", "value": f"e-{uuid.uuid4().hex[:8]}@example.com"}],
        "profile": {"name": "Ada Byron"}}).json()["id"]
    api.clock.advance(minutes=5)
    at = api.clock.now().isoformat()
    sent = api.post("/events", json={"id": f"e-{made}", "type": "purchase",
                                     "member": {"id": made}, "occurred_at": at,
                                     "data": {"order_id": f"o-{made}", "currency": "USD",
                                              "total": 900}})
    assert sent.status_code in (200, 201), sent.text
    return made


def test_the_console_member_page_lists_them(app, api, database, clock, engaged):
    with TestClient(app, raise_server_exceptions=False) as client:
        console = Console(client, database, api.program, clock)
        console.sign_in(Role.ADMIN)
        page = client.get(f"/console/members/{engaged}").text
    section = page[page.index('id="engagement"'):page.index('id="rewards-heading"')]
    assert "<strong>First order</strong>" in section and "Ten orders <small>(not yet)" in section
    assert "May visits: 1 of 3 visits (until 31 Mar 2026)" in section
    assert "Store tour: 0 of 3 visits (until 31 Mar 2026); join to take part" in section
    assert "Weekly coffee: 1 week in a row; this week counts already" in section


def test_the_portal_home_shows_them_and_a_member_joins(app, api, engaged):
    with TestClient(app, raise_server_exceptions=False) as client:
        portal = Portal(client, api, None)
        csrf = portal.sign_in(engaged)
        home = client.get("/portal/").text
        assert 'id="challenge-may-visits-text">May visits: 1 of 3 visits (until 31 Mar ' \
               '2026).' in home
        assert "Reward: +200 Beans" in home
        assert re.search(r'<li class="earned"><strong>First order</strong> <small>· earned '
                         r'2 Mar 2026', home)
        assert '<li class="locked"><strong>Ten orders</strong> <small>· Your tenth order' in home
        assert "4 more weeks to reach 4 in a row: +40 Beans" not in home
        assert "3 more weeks to reach 4 in a row: +40 Beans" in home
        assert "Join Store tour" in home
        joined = client.post("/portal/challenges/tour/join", data={"csrf_token": csrf},
                             follow_redirects=False)
        assert (joined.status_code, joined.headers["location"]) == (
            303, "/portal/#challenge-tour")
        home = client.get("/portal/").text
        assert "Join Store tour" not in home
        assert 'id="challenge-tour-text">Store tour: 0 of 3 visits (until 31 Mar 2026).' in home
        forged = client.post("/portal/challenges/tour/join", data={"csrf_token": "x"})
        assert forged.status_code == 403
        unknown = client.post("/portal/challenges/nope/join", data={"csrf_token": csrf})
        assert unknown.status_code == 200
        assert ('id="join-error">the program has no challenge &#39;nope&#39;</p>'
                in unknown.text)


def test_the_editors_simulation_lists_what_each_would_give(app, api, database, clock):
    made = api.post("/members", json=member_payload()).json()
    sent = api.post("/events", json=purchase({"id": made["id"]}, 12_00,
                                             clock.now() - timedelta(hours=2)))
    assert sent.status_code == 201, sent.text
    with TestClient(app, raise_server_exceptions=False) as client:
        console = Console(client, database, api.program, clock)
        token = console.sign_in(Role.ADMIN)
        text = editor_text(console)
        assert "\nbadges: []\n" in text
        draft = text.replace("\nbadges: []\n", (
            "\nbadges:\n  - id: first\n    name: First order\n    on: [purchase]\n"
            "    when: member.purchase_count >= 1\n    reward: {points: 5}\n"))
        shown = _simulate(console, token, draft)
    table = re.search(r'<table class="striped" id="sim-engagement">.*?</table>', shown.text,
                      re.S)
    assert table is not None, shown.text
    assert re.findall(r'<td class="num">([^<]*)</td>', table.group(0)) == [
        "1", "1", "5", "0", "0.05 USD", "0"]
