"""Every report over the known coffee shop (see conftest), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from patron.analytics.domain import InsufficientData, InvalidDateRange
from patron.analytics.schemas import ReportQuery
from patron.analytics.service import UnknownReport, UnknownSegment, run_report
from patron.flows.ingest import ingest
from patron.flows.enrolment import create_member
from tests.analytics.conftest import steady_shop
from tests.conftest import T0, make_program
from tests.factories import member_create, purchase_event


def report(shop, name, source=None, **query):
    return shop.db.read(lambda conn: run_report(conn, shop.program, name, ReportQuery(**query),
                                                T0, source=source))


def test_members_structure_growth_activity_and_spend(shop):
    r = report(shop, "members", lapsed_days=30)
    s = r.summary
    assert (s.members, s.purchasers, s.active, s.lapsed, s.never_purchased) == (4, 3, 2, 1, 1)
    assert (s.orders, s.revenue, s.average_order_value) == (6, 160_00, 2667)
    assert s.average_spend_per_purchaser == 5333
    assert s.top_20_percent_revenue_share == 0.75
    assert {c.key: c.members for c in r.by_join_channel} == {"web": 2, "pos": 2}
    assert {c.key: c.members for c in r.by_region} == {"North": 2, "South": 2}
    ages = {c.key: c.members for c in r.by_age_band if c.members}
    assert ages == {"35-44": 1, "25-34": 1, "under 18": 1, "unknown": 1}
    assert [(g.month.isoformat()[:7], g.new_members, g.total_members) for g in r.growth] == [
        ("2025-11", 1, 1), ("2025-12", 1, 2), ("2026-01", 1, 3), ("2026-02", 1, 4),
        ("2026-03", 0, 4)]
    assert r.as_of == date(2026, 3, 2) and r.currency == "USD"


def test_points_monthly_liability_breakage_and_rules(shop):
    r = report(shop, "points", point_value=Decimal("0.01"))
    months = {m.month.isoformat()[:7]: (m.issued, m.spent, m.expired) for m in r.monthly}
    # one sweep at T0 caught up on every lot: each expiry counts in the month it happened
    # (A's 2 left of November on 10 Dec, A's 20 and B's 50 in January, B's 10 in February)
    assert months == {"2025-11": (10, 0, 0), "2025-12": (70, 8, 2), "2026-01": (50, 0, 70),
                      "2026-02": (30, 0, 10), "2026-03": (0, 40, 0)}
    assert (r.summary.issued, r.summary.spent, r.summary.expired) == (160, 48, 82)
    assert sum(m.net for m in r.monthly) == r.liability.points == 30
    assert (r.liability.available_points, r.liability.value) == (30, 30)
    cohorts = {c.month.isoformat()[:7]: (c.issued, c.expired, c.outstanding, c.closed)
               for c in r.earn_cohorts}
    assert cohorts == {"2025-11": (10, 2, 0, True), "2025-12": (70, 70, 0, True),
                       "2026-01": (50, 10, 25, False), "2026-02": (30, 0, 5, False)}
    assert r.summary.breakage_rate == pytest.approx(72 / 80)
    assert r.summary.closed_cohorts == 2
    [rule] = r.rules
    assert (rule.rule, rule.earns, rule.members, rule.points, rule.cost) == (
        "base_spend", 6, 3, 160, 160)


def test_rewards_reports_spends_by_reason_channel_and_month(shop):
    r = report(shop, "rewards", point_value=Decimal("0.05"))
    assert (r.summary.redemptions, r.summary.points, r.summary.with_order) == (3, 48, 1)
    assert r.summary.value == 240
    assert [(x.reward, x.redemptions, x.members, x.points) for x in r.by_reward] == [
        ("Free coffee", 2, 2, 40), ("Early treat", 1, 1, 8)]
    assert {c.channel: (c.redemptions, c.points) for c in r.by_channel} == {
        "no order": (2, 33), "app": (1, 15)}
    assert [(m.month.month, m.points) for m in r.monthly] == [(12, 8), (3, 40)]


def test_behaviour_gaps_frequency_categories_channels(shop):
    r = report(shop, "behaviour")
    s = r.summary
    assert (s.purchasers, s.orders, s.intervals) == (3, 6, 3)
    assert s.repeat_rate == pytest.approx(2 / 3)
    assert (s.median_days_between, s.mean_days_between) == (31.0, 46.0)
    assert {g.gap: g.intervals for g in r.inter_purchase if g.intervals} == {
        "15-30 days": 1, "31-60 days": 1, "61-90 days": 1}
    assert {f.orders: f.members for f in r.frequency if f.members} == {"1": 1, "2": 1, "3": 1}
    assert [(c.category, c.revenue) for c in r.categories] == [
        ("beans", 50_00), ("drinks", 50_00), ("merch", 40_00), ("food", 20_00)]
    assert {c.channel: c.orders for c in r.channels} == {"pos": 3, "web": 2, "app": 1}
    assert [(e.type, e.events) for e in r.events] == [("purchase", 6)]


def test_rfm_scores_and_segments(shop):
    r = report(shop, "rfm")
    by_member = {m.member_id: m for m in r.members}
    a, b, c = (by_member[shop.ids[n]] for n in "ABC")
    assert (a.recency_days, a.frequency, a.monetary, a.score, a.segment) == (
        5, 3, 60_00, "442", "Loyal")
    assert (b.recency_days, b.score, b.segment) == (56, "122", "Hibernating")
    assert (c.recency_days, c.score, c.segment) == (30, "211", "Hibernating")
    sizes = {s.segment: s.members for s in r.segments}
    assert sizes["Loyal"] == 1 and sizes["Hibernating"] == 2 and sum(sizes.values()) == 3
    only = report(shop, "rfm", segment="Hibernating")
    assert {m.member_id for m in only.members} == {shop.ids["B"], shop.ids["C"]}
    with pytest.raises(UnknownSegment):
        report(shop, "rfm", segment="Sleepy")


def test_cohorts_count_purchases_in_the_programs_timezone(shop):
    r = report(shop, "cohorts")
    rows = {c.cohort.isoformat()[:7]: (c.members, c.active) for c in r.cohorts}
    assert rows == {"2025-11": (1, [1, 1, 0, 1, 0]), "2025-12": (1, [1, 1, 0, 0]),
                    "2026-01": (1, [1, 0, 0]), "2026-02": (1, [0, 0])}
    assert r.summary.average_month_1_retention == 0.5  # 2 of the 4 cohorts


def test_date_range_and_filters(shop):
    january = report(shop, "behaviour", start=date(2026, 1, 1), end=date(2026, 1, 31))
    assert january.summary.orders == 2  # C's 23:30 New York purchase is January's
    north = report(shop, "members", region="North")
    assert (north.summary.members, north.summary.orders) == (2, 4)
    pos = report(shop, "behaviour", channel="pos")
    assert [c.channel for c in pos.channels] == ["pos"] and pos.summary.orders == 3
    web_joiners = report(shop, "rfm", join_channel="web")
    assert {m.member_id for m in web_joiners.members} == {shop.ids["A"], shop.ids["C"]}


def test_as_of_an_end_date_measures_recency_from_that_day(shop):
    r = report(shop, "rfm", end=date(2026, 1, 31))
    by_member = {m.member_id: m for m in r.members}
    assert by_member[shop.ids["B"]].recency_days == 26
    assert shop.ids["A"] in by_member and by_member[shop.ids["A"]].frequency == 2


@pytest.mark.parametrize("name", ["members", "points", "rewards", "behaviour", "rfm",
                                  "cohorts", "stores", "products", "category-trends",
                                  "segments"])
def test_fetch_path_gives_the_same_report_as_the_scanner(shop, name):
    scanned = report(shop, name)
    fetched = report(shop, name, source="fetch")
    assert (scanned.source, fetched.source) == ("scan", "fetch")
    assert fetched.model_dump(exclude={"source"}) == scanned.model_dump(exclude={"source"})


def test_errors_unknown_report_bad_range_and_too_little_for_clv(shop):
    with pytest.raises(UnknownReport) as unknown:
        report(shop, "churn")
    assert unknown.value.status == 404
    with pytest.raises(InvalidDateRange) as bad:
        report(shop, "members", start=date(2026, 2, 1), end=date(2026, 1, 1))
    assert bad.value.status == 422
    with pytest.raises(InsufficientData) as few:
        report(shop, "clv")
    assert few.value.code == "insufficient_data" and few.value.extra["customers"] == 3


# --------------------------------------------------------------------------- rewards catalog

OCEAN = {"id": "ocean", "name": "Clean the ocean", "type": "donation", "cost_points": 80,
         "cause": "Ocean cleanup"}


def catalog_shop(database, clock):
    """March: A redeems 2 coffees, a mug, 3 trees and cashback, and cancels the mug, a tree
    and the cashback; B redeems a coffee, a tree and the ocean, and spends 40 points
    outside the catalog; C redeems a mug. April: C redeems a coffee, B's coffee is
    cancelled. Two mugs and a tote are given with A's purchase; one mug is cancelled."""
    from sqlalchemy import select

    from patron.flows.ingest import ingest
    from patron.events.tables import events
    from patron.ledger.service import spend_points
    from patron.rewards.tables import gift_grants
    from tests.factories import purchase_event
    from tests.rewards.factories import REWARDS, Store

    store = Store(database, clock, [*REWARDS, OCEAN])
    a, b, c = (store.member(points, region=region) for points, region in
               ((1000, "North"), (300, "South"), (400, "South")))
    redeemed = {(who, reward, n): store.redeem(member, reward).id
                for who, member, reward, times in (
                    ("a", a, "coffee", 2), ("a", a, "mug", 1), ("a", a, "trees", 3),
                    ("a", a, "cash5", 1), ("b", b, "coffee", 1), ("b", b, "trees", 1),
                    ("b", b, "ocean", 1), ("c", c, "mug", 1))
                for n in range(times)}
    for key in (("a", "mug", 0), ("a", "trees", 1), ("a", "cash5", 0)):
        store.cancel(redeemed[key], "changed mind")
    database.transact(lambda conn: spend_points(
        conn, store.program, b, points=40, reason="Staff discount", key="staff", actor="test",
        now=clock.now()))
    [outcome] = database.transact(lambda conn: ingest(
        conn, store.program, [purchase_event({"id": a}, 50_00, clock.now())], now=clock.now(),
        actor="test"))
    event_id = database.read(lambda conn: conn.execute(select(events.c.id).where(
        events.c.program_id == store.program.id, events.c.external_id == outcome.id))
        .scalar_one())
    grants = [("mug-gift", "mug", "Mug", None), ("mug-again", "mug", "Mug", clock.now()),
              ("tote-gift", "tote", "Tote bag", None)]
    database.transact(lambda conn: conn.execute(gift_grants.insert(), [dict(
        program_id=store.program.id, member_id=a, event_id=event_id,
        program_version=store.program.version, rule_id=rule, rule_name=rule,
        reward_id=reward, reward_name=name, status="cancelled" if cancelled else "active",
        fulfilment="pending_fulfilment", explanation="with purchase", created_at=clock.now(),
        cancelled_at=cancelled) for rule, reward, name, cancelled in grants]))
    store.advance(34)  # 2026-04-05
    store.redeem(c, "coffee")
    store.cancel(redeemed[("b", "coffee", 0)])
    return store


def catalog_report(store, source=None, **query):
    return store.db.read(lambda conn: run_report(
        conn, store.program, "rewards", ReportQuery(**query), store.clock.now(), source=source))


def figures(row):
    return (row.redemptions, row.members, row.points, row.cancelled, row.points_refunded,
            row.net_redemptions, row.net_points)


def test_rewards_report_reads_redemptions_and_their_cancellations(database, clock):
    store = catalog_shop(database, clock)
    march = catalog_report(store, end=date(2026, 3, 31), point_value=Decimal("0.01"))
    assert [(r.reward_type, r.reward, r.name, *figures(r)) for r in march.by_reward] == [
        ("gift", "mug", "Mug", 2, 2, 600, 1, 300, 1, 300),
        ("coupon", "coffee", "Free coffee", 3, 2, 300, 0, 0, 3, 300),
        ("cashback", "cash5", "5 back", 1, 1, 250, 1, 250, 0, 0),
        ("donation", "trees", "Plant a tree", 4, 2, 200, 1, 50, 3, 150),
        ("donation", "ocean", "Clean the ocean", 1, 1, 80, 0, 0, 1, 80),
        ("points_spend", "Staff discount", "Staff discount", 1, 1, 40, 0, 0, 1, 40)]
    s = march.summary
    assert figures(s) == (12, 3, 1470, 3, 600, 9, 870)
    assert (s.value, s.net_value, s.with_order, s.reward_types) == (1470, 870, 0, 5)
    assert [(d.cause, *figures(d)) for d in march.donations] == [
        ("Reforestation", 4, 2, 200, 1, 50, 3, 150), ("Ocean cleanup", 1, 1, 80, 0, 0, 1, 80)]
    assert [(g.reward, g.name, g.granted, g.members, g.cancelled, g.net)
            for g in march.gifts_with_purchase] == [("mug", "Mug", 2, 1, 1, 1),
                                                   ("tote", "Tote bag", 1, 1, 0, 1)]
    assert (s.gifts_granted, s.gifts_cancelled) == (3, 1)
    assert [(c.channel, *figures(c)) for c in march.by_channel] == [
        ("no order", 12, 3, 1470, 3, 600, 9, 870)]
    # The points report sees the same spends: catalog redemptions are counted once.
    points = store.db.read(lambda conn: run_report(
        conn, store.program, "points", ReportQuery(end=date(2026, 3, 31)), store.clock.now()))
    assert points.summary.spent == s.points


def test_a_later_cancellation_counts_against_the_redemption_it_undoes(database, clock):
    store = catalog_shop(database, clock)
    now = catalog_report(store)
    coffee = next(r for r in now.by_reward if r.reward == "coffee")
    assert figures(coffee) == (4, 3, 400, 1, 100, 3, 300)
    assert [(m.month.isoformat()[:7], *figures(m)) for m in now.monthly] == [
        ("2026-03", 12, 3, 1470, 4, 700, 8, 770), ("2026-04", 1, 1, 100, 0, 0, 1, 100)]
    april = catalog_report(store, start=date(2026, 4, 1))
    assert [(r.reward, *figures(r)) for r in april.by_reward] == [
        ("coffee", 1, 1, 100, 0, 0, 1, 100)]
    assert april.gifts_with_purchase == [] and april.donations == []
    north = catalog_report(store, region="North", end=date(2026, 3, 31))
    assert figures(north.summary) == (7, 1, 900, 3, 600, 4, 300)
    assert [g.granted for g in north.gifts_with_purchase] == [2, 1]
    south = catalog_report(store, region="South")
    assert south.gifts_with_purchase == [] and south.summary.gifts_granted == 0
    fetched = catalog_report(store, source="fetch")
    assert fetched.model_dump(exclude={"source"}) == now.model_dump(exclude={"source"})


# --------------------------------------------------------------------------- filters

def unprofiled_shop(database, clock):
    """Two North members who joined on the web, one South member, and two members with
    no region and no join channel; everyone buys once."""
    program = make_program(database, clock, pending_days=0)
    profiles = [{"region": "North", "join_channel": "web"}] * 2 + [
        {"region": "South", "join_channel": "pos"}] + [{}] * 2
    ids = [database.transact(lambda conn: create_member(
        conn, program, member_create(profile=profile), clock.now())).id for profile in profiles]
    database.transact(lambda conn: ingest(
        conn, program, [purchase_event({"id": i}, 10_00, clock.now()) for i in ids],
        now=clock.now(), actor="test"))
    return program, ids


def test_member_filters_leave_out_members_without_that_value(database, clock):
    program, ids = unprofiled_shop(database, clock)

    def run(name, **query):
        return database.read(lambda conn: run_report(conn, program, name, ReportQuery(**query),
                                                     clock.now()))
    north = run("members", region="North")
    assert north.summary.members == 2 and north.summary.orders == 2
    assert {c.key: c.members for c in north.by_region} == {"North": 2}
    web = run("members", join_channel="web")
    assert web.summary.members == 2
    assert {c.key: c.members for c in web.by_join_channel} == {"web": 2}
    assert {m.member_id for m in run("rfm", region="North").members} == set(ids[:2])
    assert run("behaviour", join_channel="web").summary.purchasers == 2
    assert run("cohorts", region="South").summary.members == 1
    everyone, north = run("points"), run("points", region="North")
    assert north.summary.issued * 5 == everyone.summary.issued * 2 > 0
    assert sum(c.issued for c in north.earn_cohorts) == north.summary.issued  # the lots'
    assert [r.members for r in north.rules] == [2]


# --------------------------------------------------------------------------- CLV holdout

def clv_shop(database, clock):
    """Thirty members buying every one to four weeks from October, and three who first
    buy in February, after a calibration ending on 1 February. Returns the program,
    the newcomers' ids, and the purchase days the calibrated members had after it."""
    program = make_program(database, clock, pending_days=0)
    first, cal, last = at_noon(date(2025, 10, 1)), date(2026, 2, 1), date(2026, 2, 28)
    schedule = {n: [first + timedelta(days=n + k * 7 * (1 + n % 4)) for k in range(1 + n % 6)]
                + ([at_noon(date(2026, 2, 15))] if n % 5 == 0 else []) for n in range(30)}
    schedule.update({30 + n: [at_noon(date(2026, 2, 10 + n)), at_noon(date(2026, 2, 20))]
                     for n in range(3)})
    ids = {n: database.transact(lambda conn: create_member(
        conn, program, member_create(), first)).id for n in schedule}
    events = [purchase_event({"id": ids[n]}, (10 + (3 * n + 7 * k) % 23) * 100, when)
              for n, days in schedule.items() for k, when in enumerate(days)]
    database.transact(lambda conn: ingest(conn, program, events, now=clock.now(), actor="t"))
    holdout = sum(1 for n in range(30) for when in schedule[n] if cal < when.date() <= last)
    return program, [ids[30 + n] for n in range(3)], holdout


def at_noon(day):
    return datetime.combine(day, time(12), UTC)


def test_clv_holdout_counts_only_the_members_the_models_were_fitted_on(database, clock):
    program, newcomers, holdout = clv_shop(database, clock)
    r = database.read(lambda conn: run_report(conn, program, "clv", ReportQuery(
        calibration_end=date(2026, 2, 1), end=date(2026, 2, 28)), clock.now()))
    assert r.summary.customers == 30
    assert not {m.member_id for m in r.members} & set(newcomers)
    assert holdout == 7  # and the newcomers bought on 6 days
    assert r.summary.holdout_purchases == sum(m.holdout_purchases for m in r.members) == holdout


# --------------------------------------------------------------------------- stale data

def test_reports_on_old_data_are_as_of_its_last_day_and_say_so(shop):
    """Half a year after the shop's last purchase, a report with no end date would read
    every member as lapsed: the recency reports are as of the data's last day instead,
    and every report warns that the data ends long before the day it is as of."""
    later = T0 + timedelta(days=200)

    def run(name, **query):
        return shop.db.read(lambda conn: run_report(conn, shop.program, name,
                                                    ReportQuery(**query), later))
    members = run("members", lapsed_days=30)
    assert (members.as_of, members.as_of_basis, members.data_end) == (
        date(2026, 2, 25), "data_end", date(2026, 2, 25))
    assert (members.summary.active, members.summary.lapsed) == (2, 1)
    [warning] = members.warnings
    assert "2026-02-25" in warning and "no end date" in warning
    rfm = run("rfm")
    assert rfm.as_of == date(2026, 2, 25)
    assert {m.member_id: m.recency_days for m in rfm.members}[shop.ids["A"]] == 0
    assert run("cohorts").cohorts[0].active == [1, 1, 0, 1]  # November: up to February
    points = run("points")  # points held are today's: as of today, with a warning
    assert (points.as_of, points.as_of_basis) == (later.date(), "today")
    assert points.data_end == date(2026, 3, 2) and len(points.warnings) == 1
    chosen = run("members", end=date(2026, 12, 31))
    assert (chosen.as_of, chosen.as_of_basis) == (date(2026, 12, 31), "end")
    assert chosen.summary.active == 0 and "2026-12-31" in chosen.warnings[0]
    fresh = report(shop, "members")
    assert (fresh.as_of, fresh.as_of_basis, fresh.warnings) == (T0.date(), "today", [])


# --------------------------------------------------------------------------- CLV, degenerate fit

def test_clv_on_a_degenerate_fit_reports_members_without_a_prediction(database, clock,
                                                                     dropout_at_zero):
    program, once = steady_shop(database, clock)
    r = database.read(lambda conn: run_report(conn, program, "clv", ReportQuery(),
                                              clock.now()))
    assert r.bgnbd.a < 1e-6 and r.bgnbd.b < 1e-3  # the fit is degenerate
    unpredicted = [m for m in r.members if m.expected_value is None]
    assert {m.member_id for m in unpredicted} == set(once)
    assert all(m.frequency == 0 and m.expected_purchases is None for m in unpredicted)
    assert r.members[-6:] == unpredicted  # after every member with a figure
    predicted = r.members[:-6]
    assert all(m.expected_value is not None and m.expected_value > 0 for m in predicted)
    values = [m.expected_value for m in predicted]
    assert values == sorted(values, reverse=True)
    s = r.summary
    assert (s.customers, s.members_without_prediction) == (30, 6)
    assert s.expected_value == sum(values)
    assert s.expected_purchases == pytest.approx(sum(m.expected_purchases for m in predicted),
                                                 abs=1e-3)
    [warning] = r.warnings
    assert "6 members (6 of them without a repeat purchase)" in warning
