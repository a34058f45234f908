"""The faster ways to the same figures: several reports over one snapshot, the catalog's
rows of the rewards report, and a CLV fit reused only while the purchases are unchanged;
each compared with the report built the one way, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta

import pytest

from patron.analytics import clv
from patron.analytics.schemas import ReportQuery
from patron.analytics.service import catalog_figures, run_report, run_reports
from patron.flows.ingest import ingest
from tests.analytics.test_service import catalog_shop, clv_shop
from tests.conftest import T0
from tests.factories import purchase_event

EVERY = [(name, ReportQuery()) for name in (
    "members", "points", "rewards", "behaviour", "rfm", "cohorts", "stores", "products",
    "category-trends", "segments")]
DASHBOARD = [("members", ReportQuery(lapsed_days=90)), ("points", ReportQuery()),
             ("points", ReportQuery(start=T0.date() - timedelta(days=29))),
             ("rfm", ReportQuery()), ("cohorts", ReportQuery())]
SEVERAL = [("products", ReportQuery(level="brand")),
           ("category-trends", ReportQuery(level="department", start=date(2025, 12, 1))),
           ("members", ReportQuery(end=date(2026, 1, 31), lapsed_days=30)),
           ("rewards", ReportQuery(end=date(2026, 2, 28), limit=1))]


def alone(db, program, asked, now=T0):
    return [db.read(lambda conn: run_report(conn, program, name, query, now))
            for name, query in asked]


def together(db, program, asked, now=T0):
    return db.read(lambda conn: run_reports(conn, program, asked, now))


@pytest.mark.parametrize("asked", [EVERY, DASHBOARD, SEVERAL], ids=["every", "dashboard",
                                                                    "several"])
def test_reports_over_one_snapshot_are_the_reports_built_alone(shop, asked):
    shared = together(shop.db, shop.program, asked)
    assert [r.model_dump() for r in shared] == [
        r.model_dump() for r in alone(shop.db, shop.program, asked)]
    # each report's last day of activity is of its own tables: points held are today's
    # (spends on 2 March), the orders end on 25 February
    data_end = {r.report: r.data_end for r in shared}
    if "points" in data_end and "rfm" in data_end:
        assert (data_end["points"], data_end["rfm"]) == (date(2026, 3, 2), date(2026, 2, 25))


def test_a_filtered_report_among_several_is_still_the_report_built_alone(shop):
    asked = [("members", ReportQuery(region="North")), ("rfm", ReportQuery()),
             ("behaviour", ReportQuery(channel="web"))]
    shared = together(shop.db, shop.program, asked)
    assert shared[0].summary.members == 2 and shared[1].summary.members_scored == 3
    assert [r.model_dump() for r in shared] == [
        r.model_dump() for r in alone(shop.db, shop.program, asked)]


def test_catalog_figures_are_the_rewards_reports_catalog_rows(database, clock):
    store = catalog_shop(database, clock)
    report = database.read(lambda conn: run_report(
        conn, store.program, "rewards", ReportQuery(limit=None), store.clock.now()))
    figures = database.read(lambda conn: catalog_figures(conn, store.program,
                                                         store.clock.now()))
    catalog = [r for r in report.by_reward if r.reward_type != "points_spend"]
    assert len(catalog) == 5 and len(report.by_reward) == 6  # the staff discount left out
    assert figures.rewards == catalog
    assert figures.gifts == report.gifts_with_purchase and len(figures.gifts) == 2


def test_a_clv_fit_is_reused_only_while_the_purchases_are_unchanged(database, clock,
                                                                   monkeypatch):
    program, newcomers, _ = clv_shop(database, clock)
    fitted = []
    fit_bgnbd = clv._fit_bgnbd
    monkeypatch.setattr(clv, "_FITS", OrderedDict())  # not the fits of earlier tests
    monkeypatch.setattr(clv, "_fit_bgnbd", lambda *a: fitted.append(1) or fit_bgnbd(*a))
    query = ReportQuery(calibration_end=date(2026, 2, 1), end=date(2026, 2, 28))

    def value():
        return database.read(lambda conn: run_report(conn, program, "clv", query,
                                                     clock.now()))
    first, again = value(), value()
    assert len(fitted) == 1  # the second report reused the first one's fit
    assert again.model_dump() == first.model_dump()
    # a newcomer's purchase in January makes them one of the calibration's customers
    database.transact(lambda conn: ingest(conn, program, [
        purchase_event({"id": newcomers[0]}, 99_00, T0.replace(month=1, day=20))],
        now=clock.now(), actor="t"))
    later = value()
    assert len(fitted) == 2  # one purchase more: a new fit, never the old one
    assert (first.summary.customers, later.summary.customers) == (30, 31)
    assert newcomers[0] in {m.member_id for m in later.members}
    assert later.bgnbd != first.bgnbd
