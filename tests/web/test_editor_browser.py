"""The program editor in real Chromium: break the document, see where, fix it, publish, and
find the new version and its diff; every page clean under axe and without console errors.

Uses the console browser fixtures (uvicorn serving the seeded demo program, Chromium,
``Watched``); this module gets its own server, so publishing here changes no other test's
program.
"""

from __future__ import annotations

import re

from tests.web.test_browser import (  # noqa: F401 - fixtures used by name
    _sign_in,
    browser,
    site,
    watched,
)

RATE = re.compile(r'per_currency_unit: "1"')


def _set_rate(page, rate: str) -> str:
    text = page.locator("#source").input_value()
    changed, count = RATE.subn(f'per_currency_unit: "{rate}"', text, count=1)
    assert count == 1, "the demo document earns 1 Bean per dollar"
    page.locator("#source").fill(changed)
    return changed


def test_publish_with_an_error_then_fixed(watched, site):  # noqa: F811
    page = _sign_in(watched, site["password"])
    page.get_by_role("link", name="Program", exact=True).click()
    page.wait_for_url("**/console/program")
    watched.check("program-editor")

    _set_rate(page, "-1")
    page.get_by_role("button", name="Validate").click()
    problem = page.locator("#problems li").filter(has_text="per_currency_unit")
    problem.wait_for()
    assert "earn_rules[0].points.per_currency_unit: must be > 0" in problem.inner_text()
    problem.get_by_role("link").click()
    selected = page.evaluate("""() => { const s = document.getElementById('source');
        return s.value.slice(s.selectionStart, s.selectionEnd); }""")
    assert '"-1"' in selected
    watched.check("program-problems")

    page.get_by_role("button", name="Publish").click()
    page.locator("#publish-error").wait_for()
    assert "per_currency_unit" in page.locator("#problems").inner_text()
    assert '"-1"' in page.locator("#source").input_value()  # what was typed is kept
    version = int(re.search(r"version (\d+),", page.locator("hgroup p").inner_text()).group(1))

    page.locator("#source").fill(page.locator("#source").input_value().replace('"-1"', '"2"'))
    page.get_by_role("button", name="Simulate").click()
    page.locator("#sim-rules, #sim-empty").first.wait_for()
    if page.locator("#sim-rules").count():
        bars = page.evaluate("() => Chart.getChart('chart-sim-cost').data.datasets.length")
        assert bars == 2
    watched.check("program-simulation")

    page.get_by_label("Note (why this version; kept with it)").fill("Double Beans")
    page.get_by_role("button", name="Publish").click()
    page.locator("#published").wait_for()
    assert page.locator("#published").inner_text() == f"Published version {version + 1}."

    page.get_by_role("link", name="Version history").click()
    page.wait_for_url("**/console/program/versions")
    newest = page.locator("#versions tbody tr").first.inner_text()
    assert str(version + 1) in newest and "Double Beans" in newest
    watched.check("program-versions")
    page.get_by_role("link", name=f"diff with {version}").click()
    page.wait_for_url(f"**/console/program/versions/{version + 1}#diff")
    assert page.locator(".diff-add").filter(has_text='per_currency_unit: "2"').count() == 1
    assert page.locator(".diff-del").filter(has_text='per_currency_unit: "1"').count() == 1
    watched.check("program-diff")


def test_analytics_pages_chart_and_download(watched, site):  # noqa: F811
    page = _sign_in(watched, site["password"])
    page.get_by_role("link", name="Analytics").click()
    page.wait_for_url("**/console/analytics")
    watched.check("analytics")
    page.get_by_role("link", name="Points", exact=True).click()
    page.wait_for_url("**/console/analytics/points")
    series = page.evaluate("() => Chart.getChart('chart-report').data.datasets.length")
    assert series >= 1
    assert page.locator("#report-table tbody tr").count() >= 1
    watched.check("analytics-points")
    with page.expect_download() as download:
        page.locator("#csv").click()
    assert download.value.suggested_filename == "points-monthly.csv"
    for name in ("members", "rfm", "stores"):
        watched.go(f"/console/analytics/{name}")
        watched.check(f"analytics-{name}")
