"""Analytics over HTTP: who may ask, what comes back, and every error as a problem."""

from __future__ import annotations

import csv
import io

import pytest

from tests.analytics.conftest import build_shop, steady_shop
from tests.conftest import Api


@pytest.fixture(scope="module")
def built(database):
    return build_shop(database)


@pytest.fixture
def shop_api(api, built) -> Api:
    return Api(api.client, api.db, built.program, api.clock)


def test_analyst_gets_every_report(shop_api):
    assert shop_api.get("/analytics", role="analyst").json() == [
        "members", "points", "rewards", "behaviour", "rfm", "clv", "cohorts", "stores",
        "products", "category-trends", "segments"]
    for name in ("members", "points", "rewards", "behaviour", "rfm", "cohorts", "stores",
                 "products", "category-trends", "segments"):
        response = shop_api.get(f"/analytics/{name}", role="analyst")
        assert response.status_code == 200, response.text
        assert response.json()["report"] == name
    members = shop_api.get("/analytics/members", role="analyst",
                           params={"region": "North", "lapsed_days": 30}).json()
    assert members["summary"]["members"] == 2 and members["currency"] == "USD"


def test_reports_on_old_data_carry_warnings(shop_api):
    shop_api.clock.advance(days=200)
    members = shop_api.get("/analytics/members", role="analyst").json()
    assert (members["as_of"], members["as_of_basis"]) == ("2026-02-25", "data_end")
    assert len(members["warnings"]) == 1
    csv_text = shop_api.get("/analytics/members", role="analyst", params={"format": "csv"}).text
    assert "warning" not in csv_text


def test_integration_key_may_not_read_analytics(shop_api):
    response = shop_api.get("/analytics/rfm", role="integration")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_csv_of_the_main_table_or_a_named_one(shop_api):
    response = shop_api.get("/analytics/cohorts", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["cohort"] for r in rows] == ["2025-11-01", "2025-12-01", "2026-01-01",
                                          "2026-02-01"]
    assert rows[0]["active_3"] == "1" and rows[0]["retention_0"] == "1.0"
    segments = shop_api.get("/analytics/rfm", params={"format": "csv", "table": "segments"})
    assert "Champions" in segments.text
    missing = shop_api.get("/analytics/rfm", params={"format": "csv", "table": "nope"})
    assert missing.status_code == 422 and missing.json()["code"] == "unknown_table"


@pytest.mark.parametrize("path, params, status, code", [
    ("/analytics/churn", {}, 404, "unknown_report"),
    ("/analytics/members", {"start": "2026-02-01", "end": "2026-01-01"}, 422,
     "invalid_date_range"),
    ("/analytics/members", {"start": "yesterday"}, 422, "validation_error"),
    ("/analytics/members", {"strat": "2026-01-01"}, 422, "validation_error"),
    ("/analytics/clv", {}, 422, "insufficient_data"),
    ("/analytics/clv", {"calibration_end": "2027-01-01"}, 422, "invalid_calibration_end"),
    ("/analytics/rfm", {"segment": "Sleepy"}, 422, "unknown_segment"),
    ("/analytics/points", {"point_value": "-1"}, 422, "validation_error"),
])
def test_bad_requests_are_problems_with_stable_codes(shop_api, path, params, status, code):
    response = shop_api.get(path, role="analyst", params=params)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.headers["content-type"] == "application/problem+json"


def test_reports_are_in_the_openapi_document(shop_api):
    paths = shop_api.client.get("/openapi.json").json()["paths"]
    assert "/api/v1/analytics/clv" in paths
    parameters = {p["name"] for p in paths["/api/v1/analytics/clv"]["get"]["parameters"]}
    assert {"calibration_end", "time_unit", "horizon_days", "start", "end"} <= parameters


def test_a_program_without_history_still_gets_every_report(api):
    for name in ("members", "points", "rewards", "behaviour", "rfm", "cohorts"):
        response = api.get(f"/analytics/{name}", role="analyst")
        assert response.status_code == 200, (name, response.text)
    members = api.get("/analytics/members").json()
    assert members["summary"]["members"] == 0 and members["summary"]["average_order_value"] is None
    assert api.get("/analytics/points").json()["summary"]["breakage_rate"] is None
    assert api.get("/analytics/clv").json()["code"] == "insufficient_data"


def test_clv_on_a_degenerate_fit_answers_with_null_figures(api, database, clock,
                                                           dropout_at_zero):
    """Not a 500: members the fitted models give no figure for are null, JSON and CSV."""
    program, once = steady_shop(database, clock)
    on = Api(api.client, api.db, program, api.clock)
    body = on.get("/analytics/clv", role="analyst").json()
    assert body["summary"]["members_without_prediction"] == len(once)
    nulls = {m["member_id"] for m in body["members"] if m["expected_value"] is None}
    assert nulls == set(once)
    rows = list(csv.DictReader(io.StringIO(on.get(
        "/analytics/clv", role="analyst", params={"format": "csv"}).text)))
    assert {int(r["member_id"]) for r in rows if r["expected_value"] == ""} == set(once)
