"""The console in real Chromium: every page loads cleanly, passes axe, and the key flow works.

Runs Debian's /usr/bin/chromium through Playwright's driver (``playwright install``
is never needed) against uvicorn serving a seeded SQLite database. A screenshot of
each page lands in ``$PATRON_ARTEFACTS`` (default ``tests/web/artefacts``).
"""

from __future__ import annotations

import os

import pytest

from tests.web.conftest import CHROMIUM, EMAIL, sign_in

if not CHROMIUM.exists() and os.environ.get("CI") != "true":
    pytest.skip("no /usr/bin/chromium (apt-get install chromium); required under CI",
                allow_module_level=True)


def test_login_page(watched):
    page = watched.go("/console/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    watched.check("login")


def test_dashboard_draws_its_charts(watched, site):
    page = sign_in(watched, site["password"])
    assert int(page.locator("#fig-members").inner_text().replace(",", "")) >= 40
    points = page.evaluate("""() => ['chart-members', 'chart-points', 'chart-activity',
                                      'chart-rfm'].map(
        id => Chart.getChart(id).data.datasets.reduce((n, d) => n + d.data.length, 0))""")
    assert all(n > 0 for n in points), points
    watched.check("dashboard")


def test_find_a_member_adjust_points_and_log_out(watched, site):
    page = sign_in(watched, site["password"])
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Email, phone, card, external id or name").fill(site["phone"])
    page.locator("#results a").first.wait_for()
    watched.check("members")
    page.locator("#results a").first.click()
    page.wait_for_url("**/console/members/*")
    before = int(page.locator("#balance-available").inner_text().replace(",", ""))
    watched.check("member")
    page.get_by_label("Points (negative to take away)").fill("125")
    page.get_by_label("Reason (the member sees it)").fill("Birthday surprise")
    page.get_by_role("button", name="Adjust").click()
    page.get_by_role("status").wait_for()
    after = int(page.locator("#balance-available").inner_text().replace(",", ""))
    assert after == before + 125
    assert "Birthday surprise" in page.locator("#ledger tbody tr").first.inner_text()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/console/login")
    watched.go("/console/members")
    assert "/console/login" in page.url
    assert watched.errors == []
