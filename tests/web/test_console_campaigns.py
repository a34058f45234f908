"""The dashboard's tiers, retention and running campaigns, and the campaign pages, over HTTP
on SQLite and PostgreSQL: each shows the figures the API gives."""

from __future__ import annotations

import re
from datetime import timedelta
import pytest

from patron.auth.service import Role
from tests.factories import member_payload
from tests.web.test_console import console  # noqa: F401  (the signed-in client fixture)

TIERS = {"metric": "qualifying_spend", "window": {"type": "rolling_months", "months": 12},
         "levels": [{"id": "green", "name": "Green", "threshold": 0},
                    {"id": "silver", "name": "Silver", "threshold": 10000},
                    {"id": "gold", "name": "Gold", "threshold": 50000}]}
PLAN = {"id": "club", "name": "Club", "price": 4900, "period_months": 12,
        "benefits": {"tier_floor": "gold"}}
BASE = {"id": "base", "name": "1 point per $1", "on": "purchase",
        "points": {"per_currency_unit": "1"}}
SETTINGS = {"currency": "USD", "timezone": "UTC", "pending_days": 0}


def campaign(**fields):
    return {"id": "spring", "name": "Spring double points", "starts": "2026-03-01",
            "ends": "2026-03-31", "holdout": "0.5", "attribution_days": 0,
            "earn_rules": [{"id": "spring-x2", "name": "Spring ×2", "on": "purchase",
                            "points": {"multiplier": 2, "of": ["base"]}}], **fields}


def publish(api, **document):
    api.request("PUT", "/program", json={"name": "Shop", "settings": SETTINGS,
                                         "earn_rules": [BASE], **document}).raise_for_status()


def buy(api, member: int, total: int, at, n: int) -> None:
    api.post("/events", json={
        "id": f"buy-{member}-{n}", "type": "purchase", "member": {"id": member},
        "occurred_at": at.isoformat(),
        "data": {"order_id": f"O-{member}-{n}", "currency": "USD", "total": total}}
    ).raise_for_status()


def members(api, count: int) -> list[int]:
    return [api.post("/members", json=member_payload()).json()["id"] for _ in range(count)]


def rows(page: str, table: str) -> list[list[str]]:
    body = page[page.index(f'id="{table}"'):]
    body = body[:body.index("</table>")]
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in
             re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body[body.index("<tbody>"):], re.S)]


def test_the_dashboard_counts_members_per_tier_a_paid_plan_floor_included(console, api):
    publish(api, tiers=TIERS, memberships=[PLAN])
    plain, spender, subscriber, favoured = members(api, 4)
    buy(api, spender, 120_00, console.clock.now(), 1)
    api.post(f"/members/{subscriber}/memberships", json={
        "plan_id": "club", "payment": {"reference": "ch_1", "amount": 4900}}
    ).raise_for_status()
    api.request("PUT", f"/members/{favoured}/tier", json={
        "tier": "silver", "until": (console.clock.now() + timedelta(days=30)).isoformat(),
        "reason": "goodwill"}).raise_for_status()
    console.sign_in(Role.ANALYST)
    page = console.client.get("/console/").text
    assert rows(page, "tier-distribution") == [
        ["Green", "1", "0"], ["Silver", "2", "0"], ["Gold", "1", "1"]]
    tier = api.get(f"/members/{subscriber}/tier").json()
    assert (tier["tier"]["id"], tier["source"]) == ("gold", "membership")
    console.clock.advance(days=31)  # the tier set by hand has ended (and the session)
    console.client.cookies.clear()
    console.sign_in(Role.ANALYST)
    assert rows(console.client.get("/console/").text, "tier-distribution") == [
        ["Green", "2", "0"], ["Silver", "1", "0"], ["Gold", "1", "1"]]


def test_a_program_without_tiers_says_so(console, api):
    members(api, 1)
    console.sign_in(Role.ANALYST)
    assert "The program has no tiers." in console.client.get("/console/").text


def test_the_retention_heat_map_is_the_cohorts_report(console, api):
    publish(api)
    now = console.clock.now()
    first, second = members(api, 2)
    buy(api, first, 10_00, now, 1)
    console.clock.advance(days=35)
    buy(api, first, 10_00, console.clock.now(), 2)
    console.sign_in(Role.ANALYST)
    page = console.client.get("/console/").text
    report = api.get("/analytics/cohorts").json()["cohorts"]
    table = rows(page, "cohort-heatmap")
    assert [r[0] for r in table] == [c["cohort"][:7] for c in report]
    assert table[0][1:4] == ["2", "50%", "50%"]  # one of two bought in months 0 and 1
    assert 'class="shade-2">50%' in page


def test_the_campaigns_page_lists_window_groups_and_budget(console, api):
    publish(api, campaigns=[campaign(budget={"points": 5000})])
    members(api, 6)
    assigned = api.post("/campaigns/spring/assign").json()
    console.sign_in(Role.ANALYST)
    page = console.client.get("/console/campaigns").text
    [row] = rows(page, "campaigns")
    assert row[:5] == ["Spring double points", "running", "2026-03-01 to 2026-03-31",
                       "every active member", "50%"]
    assert row[5:7] == [str(assigned["treatment"]), str(assigned["holdout"])]
    assert row[7].startswith("0 of 5,000 points")


def test_a_campaign_page_shows_the_results_the_api_gives(console, api):
    publish(api, campaigns=[campaign()])
    ids = members(api, 12)
    assigned = api.post("/campaigns/spring/assign").json()
    groups = {group: assigned[group] for group in ("treatment", "holdout")}
    # the groups are a hash of program, campaign and member: a few more members until
    # each group has enough for an interval (12 leave one with fewer than 3 in about 4% of runs)
    while min(groups["treatment"], groups["holdout"]) < 3:
        ids += members(api, 4)
        assigned = api.post("/campaigns/spring/assign").json()
        groups = {group: groups[group] + assigned[group] for group in groups}
    console.clock.advance(hours=1)
    for n, member in enumerate(ids):
        buy(api, member, 10_00 + 150 * n, console.clock.now(), n)
    results = api.get("/analytics/campaigns/spring").json()
    console.sign_in(Role.ANALYST)
    page = console.client.get("/console/campaigns/spring").text
    assert f'id="fig-reach">{results["reach"]}<' in page
    assert f'id="fig-points-issued">{results["points_issued"]:,}<' in page
    assert results["points_issued"] > 0
    groups = rows(page, "groups")
    assert [g[0] for g in groups] == ["Treatment", "Holdout"]
    assert groups[0][1] == str(results["treatment"]["members"])
    lift = results["spend_lift"]
    assert f'{lift["low"] / 100:,.2f} USD to {lift["high"] / 100:,.2f} USD' in page
    assert "Welch" in page and 'id="lift-chart-data"' in page
    assert 'id="running-campaigns"' in console.client.get("/console/").text


def test_a_campaign_without_holdout_shows_before_and_after_as_not_causal(console, api):
    publish(api, campaigns=[campaign(holdout="0")])
    [member] = members(api, 1)
    api.post("/campaigns/spring/assign").raise_for_status()
    buy(api, member, 20_00, console.clock.now(), 1)
    console.sign_in(Role.ANALYST)
    page = console.client.get("/console/campaigns/spring").text
    assert 'id="before-after"' in page and "Not causal" in page
    assert 'id="lift-chart-data"' not in page


@pytest.mark.parametrize("path", ["/console/campaigns/autumn", "/console/campaigns"])
def test_campaign_pages_need_analytics_and_an_existing_campaign(console, api, path):
    publish(api)
    console.sign_in(Role.INTEGRATION)
    assert console.client.get(path).status_code == 403
    console.client.cookies.clear()
    console.sign_in(Role.ANALYST)
    page = console.client.get(path)
    assert page.status_code == (404 if path.endswith("autumn") else 200)
