"""The dashboard's tiers, retention and campaign card, and the campaign pages, in Chromium:
the demo's campaign (with a holdout) from the list to its results and lift chart."""

from __future__ import annotations

import os

import pytest

from tests.web.conftest import CHROMIUM, sign_in

if not CHROMIUM.exists() and os.environ.get("CI") != "true":
    pytest.skip("no /usr/bin/chromium (apt-get install chromium); required under CI",
                allow_module_level=True)


def test_dashboard_shows_tiers_retention_and_the_running_campaign(watched, site):
    page = sign_in(watched, site["password"])
    tiers = page.locator("#tier-distribution tbody tr")
    assert tiers.count() == 3
    total = sum(int(page.locator(f"#tier-distribution tbody tr:nth-child({n}) td").first
                    .inner_text().replace(",", "")) for n in (1, 2, 3))
    assert total >= 40
    drawn = page.evaluate("() => Chart.getChart('chart-tiers').data.datasets[0].data")
    assert sum(drawn) == total
    assert page.locator("#cohort-heatmap tbody tr").count() >= 5
    assert "%" in page.locator("#cohort-heatmap tbody td[class^=shade]").first.inner_text()
    watched.check("dashboard-tiers-cohorts")
    page.locator("#running-campaigns a").first.click()
    page.wait_for_url("**/console/campaigns/regulars_double")


def test_campaigns_list_leads_to_results_with_the_lift_chart(watched, site):
    page = sign_in(watched, site["password"])
    page.get_by_role("link", name="Campaigns").click()
    page.wait_for_url("**/console/campaigns")
    row = page.locator("#campaigns tbody tr").first
    assert "running" in row.inner_text() and "regulars" in row.inner_text()
    watched.check("campaigns")
    row.get_by_role("link", name="Double Beans for regulars").click()
    page.wait_for_url("**/console/campaigns/regulars_double")
    reach = int(page.locator("#fig-reach").inner_text().replace(",", ""))
    assert reach > 0 and page.locator("#groups tbody tr").count() == 2
    means = page.evaluate("() => Chart.getChart('chart-lift').data.datasets[0].data")
    assert len(means) == 2 and means[1] > 0
    assert "Welch" in page.locator("#lift-heading + .charts").inner_text()
    watched.check("campaign")
