"""The member portal in real Chromium at a phone's size (375×812): sign in by link, home,
history, rewards and a redemption, refer a friend, log out. Each page loads with no console
error and no serious axe violation, and leaves a screenshot (``portal-*.png``).

The demo site, browser and page watcher are shared with the console's tests (conftest).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser
from sqlalchemy import select

from patron.auth.portal import issue_link
from patron.clock import SystemClock
from patron.db import create_database
from patron.demo.seed import SLUG
from patron.ledger.service import adjust_points
from patron.members.tables import identities
from patron.program.service import get_program_by_slug
from patron.recommendations.jobs import train_program
from patron.recommendations.service import member_recommendations
from patron.recommendations.tables import recommendations
from tests.web.conftest import CHROMIUM, Watched

if not CHROMIUM.exists() and os.environ.get("CI") != "true":
    pytest.skip("no /usr/bin/chromium (apt-get install chromium); required under CI",
                allow_module_level=True)


@pytest.fixture
def phone(browser: Browser, site: dict[str, str]) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 375, "height": 812},
                                  is_mobile=True, has_touch=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site["base"])
    yield Watched(context.new_page(), site["base"])
    context.close()


@pytest.fixture
def member_link(site: dict[str, str]) -> Iterator[tuple[str, str]]:
    """A demo member with an email, 2,000 Beans more, and a one-time link of theirs."""
    db = create_database(site["database_url"])
    now = SystemClock().now()

    def prepare(conn):
        program = get_program_by_slug(conn, SLUG)
        row = conn.execute(select(identities.c.member_id, identities.c.value).where(
            identities.c.program_id == program.id, identities.c.type == "email")
            .order_by(identities.c.id)).first()
        adjust_points(conn, program, row.member_id, points=2000, reason="Welcome back gift",
                      key=f"portal-test-{uuid.uuid4().hex}", actor="test", now=now)
        return row.value, issue_link(conn, program, row.member_id, now).path
    yield db.transact(prepare)
    db.dispose()


def test_sign_in_by_link_and_use_every_page(phone, member_link):
    email, path = member_link
    page = phone.go("/portal/login")
    phone.check("portal-login")
    page.get_by_label("Email or phone").fill(email)
    page.get_by_role("button", name="Send me a link").click()
    assert "a link is on its way" in page.get_by_role("status").inner_text()
    phone.check("portal-sent")

    phone.go(path)
    page.wait_for_url("**/portal/")
    assert "Beans" in page.locator("#balance-heading").inner_text()
    assert "to reach" in page.locator("#tier-next").inner_text()
    phone.check("portal-home")

    page.get_by_role("link", name="History").click()
    page.wait_for_url("**/portal/history")
    assert "Welcome back gift" in page.locator("#history").inner_text()
    lines = page.locator("#history .line").count()
    if page.get_by_role("button", name="Load more").count():
        page.get_by_role("button", name="Load more").click()
        page.wait_for_function(f"document.querySelectorAll('#history .line').length > {lines}")
    phone.check("portal-history")

    page.get_by_role("link", name="Rewards").click()
    before = int(page.locator("#available").inner_text().replace(",", ""))
    phone.check("portal-rewards")
    page.get_by_role("button", name="Redeem Free drink of your choice").click()
    page.wait_for_url("**/portal/redemptions/*")
    assert page.locator("#coupon-code").inner_text().strip()
    phone.check("portal-redeemed")
    page.get_by_role("link", name="Back to rewards").click()
    assert int(page.locator("#available").inner_text().replace(",", "")) == before - 450

    page.get_by_role("link", name="Refer").click()
    link = page.get_by_label("Your link").input_value()
    assert page.locator("#referral-code").inner_text() in link
    page.get_by_role("button", name="Copy").click()
    page.get_by_text("Copied.").wait_for()
    phone.check("portal-referrals")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/portal/login")
    phone.go("/portal/")
    assert page.url.endswith("/portal/login")
    assert phone.errors == []
    used = page.goto(phone.base + path)  # the link was used: it opens nothing now
    assert used is not None and used.status == 400
    assert "This link has expired" in page.locator("h1").inner_text()


def test_home_shows_the_members_badges_challenges_and_streaks(phone, member_link):
    """The demo's version brings a badge, a monthly challenge and a weekly streak: the home
    page words each and draws the challenge's progress, and passes axe with them."""
    _, path = member_link
    page = phone.go(path)
    page.wait_for_url("**/portal/")
    challenge = page.locator("#challenge-three_visits-text").inner_text()
    assert challenge.startswith("Three visits a month: ") and "visits this month" in challenge
    assert page.locator("#challenge-three_visits-progress").get_attribute("max") == "3"
    assert page.locator("#streak-weekly_coffee-text").inner_text().startswith("Weekly coffee:")
    assert "Regular" in page.locator("#badges").inner_text()
    phone.check("portal-home-engagement")


def test_home_suggests_the_members_recommended_rewards_and_categories(phone, site):
    """Once the recommendations are trained, the home page's "You might like" lists the
    rewards and categories stored for the member, as ``GET /members/{id}/recommendations``
    answers them, and passes axe with them."""
    db = create_database(site["database_url"])
    now = SystemClock().now()
    program = db.read(lambda conn: get_program_by_slug(conn, SLUG))
    train_program(db, program.id, now)

    def member_with_a_list(conn):
        member_id = conn.execute(select(recommendations.c.member_id).where(
            recommendations.c.program_id == program.id,
            recommendations.c.member_id.is_not(None), recommendations.c.kind == "category")
            .order_by(recommendations.c.member_id)).scalars().first()
        found = member_recommendations(conn, program, member_id, now, 3)
        return member_id, found, issue_link(conn, program, member_id, now).path
    member_id, found, path = db.transact(member_with_a_list)
    db.dispose()
    assert found["basis"] == "member" and found["categories"]
    page = phone.go(path)
    page.wait_for_url("**/portal/")
    assert page.get_by_role("heading", name="You might like").is_visible()
    shown = page.locator("#suggested-categories li").all_inner_texts()
    assert [text.split(" · ")[0].lower() for text in shown] == \
        [c["category"].lower() for c in found["categories"]]
    assert shown[0].split(" · ")[1] == found["categories"][0]["reason"]
    rewards = page.locator("#suggested-rewards li").all_inner_texts()
    assert [text.split(" · ")[0] for text in rewards] == [r["name"] for r in found["rewards"]]
    phone.check("portal-home-suggestions")
