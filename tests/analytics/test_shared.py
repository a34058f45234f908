"""The faster ways to the same figures: several reports over one snapshot, the catalog's
rows of the rewards report, a CLV fit reused only while the purchases are unchanged, and
a report kept only while nothing is committed; each compared with the report built the
one way, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta

import pytest

from patron.analytics import cache, clv, service
from patron.analytics.schemas import ReportQuery
from patron.analytics.service import catalog_figures, run_report, run_reports
from patron.config import get_settings
from patron.flows.enrolment import create_member
from patron.flows.ingest import ingest
from tests.analytics.test_service import catalog_shop
from tests.conftest import T0, make_program
from tests.factories import member_create, purchase_event

EVERY = [(name, ReportQuery()) for name in (
    "members", "points", "rewards", "behaviour", "rfm", "cohorts", "stores", "products",
    "category-trends", "segments")]
DASHBOARD = [("members", ReportQuery(lapsed_days=90)), ("points", ReportQuery()),
             ("points", ReportQuery(start=T0.date() - timedelta(days=29))),
             ("points-overview", ReportQuery()),
             ("rfm", ReportQuery()), ("cohorts", ReportQuery())]
SEVERAL = [("products", ReportQuery(level="brand")),
           ("category-trends", ReportQuery(level="department", start=date(2025, 12, 1))),
           ("members", ReportQuery(end=date(2026, 1, 31), lapsed_days=30)),
           ("rewards", ReportQuery(end=date(2026, 2, 28), limit=1))]


def alone(db, program, asked, now=T0):
    return [db.read(lambda conn: run_reports(conn, program, [(name, query)], now)[0])
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


@pytest.mark.parametrize("query", [ReportQuery(), ReportQuery(start=date(2026, 1, 1)),
                                   ReportQuery(end=date(2025, 12, 31), point_value="0.05")])
def test_the_points_overview_is_the_points_reports_months_totals_and_liability(shop, query):
    overview, report = together(shop.db, shop.program, [("points-overview", query),
                                                        ("points", query)])
    same = ("start", "as_of", "as_of_basis", "data_end", "warnings", "monthly", "liability")
    assert overview.model_dump(include=set(same)) == report.model_dump(include=set(same))
    assert overview.summary.model_dump() == report.summary.model_dump(
        exclude={"breakage_rate", "closed_cohorts"})
    assert overview.report == "points-overview" and overview.summary.issued > 0


def test_a_filtered_report_among_several_is_still_the_report_built_alone(shop):
    asked = [("members", ReportQuery(region="North")), ("rfm", ReportQuery()),
             ("behaviour", ReportQuery(channel="web"))]
    shared = together(shop.db, shop.program, asked)
    assert shared[0].summary.members == 2 and shared[1].summary.members_scored == 3
    assert [r.model_dump() for r in shared] == [
        r.model_dump() for r in alone(shop.db, shop.program, asked)]


def test_catalog_figures_are_the_rewards_reports_catalog_rows(database, clock):
    store = catalog_shop(database, clock)

    def both():
        report = database.read(lambda conn: run_report(
            conn, store.program, "rewards", ReportQuery(limit=None), store.clock.now()))
        figures = database.read(lambda conn: catalog_figures(conn, store.program,
                                                             store.clock.now()))
        return report, figures
    report, figures = both()
    catalog = [r for r in report.by_reward if r.reward_type != "points_spend"]
    assert len(catalog) == 5 and len(report.by_reward) == 6  # the staff discount left out
    assert figures.rewards == catalog
    assert figures.gifts == report.gifts_with_purchase and len(figures.gifts) == 2
    store.redeem(store.member(500), "coffee")  # committed: the next figures have it
    report, later = both()
    coffee = {r.reward: r.redemptions for r in later.rewards}["coffee"]
    assert coffee == {r.reward: r.redemptions for r in figures.rewards}["coffee"] + 1
    assert later.rewards == [r for r in report.by_reward if r.reward_type != "points_spend"]


def test_a_clv_fit_is_reused_only_for_the_same_purchase_histories(monkeypatch):
    """Pure: the fit is kept by a digest of its inputs. (On SQLite reports are built in
    the analytics worker's process, so the reports' side is compared in the CLV tests.)"""
    monkeypatch.setattr(clv, "_FITS", OrderedDict())  # not the fits of earlier tests
    rows = [(n, n % 7, 3 * (n % 7), 100 + n, (10 + n % 5) * 100 if n % 7 else 0)
            for n in range(60)]
    first = clv.fit(clv.histories(rows, 2))
    assert clv.fit(clv.histories(list(rows), 2)) is first
    assert clv.fit(clv.histories(rows, 2), "day") is not first  # another unit, another fit
    one_more = [rows[0][:1] + (1, 5, 100, 1200)] + rows[1:]  # member 0 came back once
    refit = clv.fit(clv.histories(one_more, 2))
    assert refit is not first and refit.bgnbd != first.bgnbd


def test_a_report_is_kept_only_while_nothing_is_committed(database, clock, monkeypatch):
    """On PostgreSQL any commit on the server (other tests', other databases') is a change:
    the report is asserted kept when nothing was committed between the two asks."""
    program = make_program(database, clock, pending_days=0)
    member = database.transact(lambda conn: create_member(conn, program, member_create(),
                                                          clock.now())).id
    built = []
    build_all = service._build_all
    monkeypatch.setattr(service, "_build_all",
                        lambda *args: built.append(1) or build_all(*args))

    def buy(cents):
        database.transact(lambda conn: ingest(conn, program, [
            purchase_event({"id": member}, cents, clock.now())], now=clock.now(), actor="t"))

    def revenue():
        return alone(database, program, [("members", ReportQuery())])[0].summary.revenue

    def asked_twice():
        """Two asks with nothing committed in between: (revenues, reports built)."""
        for _ in range(50):
            before, count = database.read(cache.data_version), len(built)
            figures = (revenue(), revenue())
            after = database.read(cache.data_version)
            # SQLite's count of changes is this database's alone: a report never moves it
            assert after == before or not database.is_sqlite
            if after == before:
                return figures, len(built) - count
        pytest.skip("the PostgreSQL server never stayed quiet for two reports")
    buy(10_00)
    figures, count = asked_twice()
    assert figures == (10_00, 10_00) and count <= 1  # built at most once, then kept
    buy(5_00)  # a purchase is committed: the next report is built again and has it
    built.clear()
    assert revenue() == 15_00 and len(built) == 1
    later = database.read(lambda conn: run_report(conn, program, "members", ReportQuery(),
                                                  clock.now() + timedelta(seconds=5)))
    assert later.generated_at == clock.now() + timedelta(seconds=5)
    monkeypatch.setenv("PATRON_REPORT_CACHE_ENTRIES", "0")
    get_settings.cache_clear()
    try:
        assert asked_twice() == ((15_00, 15_00), 2)  # nothing kept
    finally:
        monkeypatch.delenv("PATRON_REPORT_CACHE_ENTRIES")
        get_settings.cache_clear()
