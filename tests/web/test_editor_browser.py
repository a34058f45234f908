"""The program editor in real Chromium: break the document, see where, fix it, publish, and
find the new version and its diff; every page clean under axe and without console errors.

Uses the shared browser fixtures (``tests/web/conftest.py``: the demo site, Chromium,
``Watched``). The site is shared with the other browser tests, so the document published
here is put back as it was at the end (as a new version: earning is unchanged for them).
"""

from __future__ import annotations

import re

from tests.web.conftest import sign_in

RATE = re.compile(r'per_currency_unit: "1"')


def _set_rate(page, rate: str) -> str:
    text = page.locator("#source").input_value()
    changed, count = RATE.subn(f'per_currency_unit: "{rate}"', text, count=1)
    assert count == 1, "the demo document earns 1 Bean per dollar"
    page.locator("#source").fill(changed)
    return changed


def test_publish_with_an_error_then_fixed(watched, site):
    page = sign_in(watched, site["password"])
    page.get_by_role("link", name="Program", exact=True).click()
    page.wait_for_url("**/console/program")
    watched.check("program-editor")

    _break_and_see_where(watched, page)

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
    _put_back(watched, page, version + 2)


def _break_and_see_where(watched, page) -> None:
    """A negative rate: Validate names its path, and its link selects its line."""
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


def _put_back(watched, page, expected: int) -> None:
    """The demo earns as before for the other browser tests (as a new version)."""
    watched.go("/console/program")
    page.locator("#source").fill(page.locator("#source").input_value().replace(
        'per_currency_unit: "2"', 'per_currency_unit: "1"'))
    page.get_by_role("button", name="Publish").click()
    assert page.locator("#published").inner_text() == f"Published version {expected}."


def test_analytics_pages_chart_and_download(watched, site):
    page = sign_in(watched, site["password"])
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


def test_rewards_and_a_coupon_batch(watched, site):
    page = sign_in(watched, site["password"])
    page.get_by_role("link", name="Rewards").click()
    page.wait_for_url("**/console/rewards")
    assert page.locator("#rewards tbody tr").count() >= 1
    watched.check("rewards")
    page.get_by_role("link", name="Coupons").click()
    page.wait_for_url("**/console/coupons")
    watched.check("coupons")
    page.get_by_label("Codes (1 to").fill("25")
    page.get_by_label("What the batch is for").fill("Spring flyer")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_url("**/console/coupons/batches/*")
    assert page.locator("#batch-count").inner_text() == "25"
    watched.check("coupon-batch")
    with page.expect_download() as download:
        page.locator("#export").click()
    assert download.value.suggested_filename.startswith("coupons-batch-")
    assert len(open(download.value.path()).read().splitlines()) == 26
