"""Analytics use cases: one function per report, over a snapshot of one program.

Each report takes the program's rows into DuckDB (``repository``), scopes them
to the members and channel asked for, runs its SQL (``queries``) and hands the
figures to the pure ``domain``/``clv`` code for scoring, fitting and shaping.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from patron.analytics import cache, clv, domain, queries, repository, worker
from patron.analytics.queries import Period
from patron.analytics.repository import Warehouse
from patron.analytics.schemas import (
    REPORTS,
    BehaviourReport,
    BehaviourSummary,
    BgNbdParameters,
    CategoryShare,
    CauseDonations,
    ChannelRedemptions,
    ChannelShare,
    ClvMember,
    ClvReport,
    ClvSummary,
    Cohort,
    CohortsReport,
    CohortsSummary,
    Count,
    EarnCohort,
    EventTypeCount,
    FrequencyBand,
    GammaGammaParameters,
    GapBand,
    GiftGrants,
    GrowthMonth,
    Liability,
    MembersReport,
    MembersSummary,
    PointsMonth,
    PointsOverview,
    PointsReport,
    PointsSummary,
    PointsTotals,
    RedemptionMonth,
    Report,
    ReportQuery,
    RewardRedemptions,
    RewardsReport,
    RewardsSummary,
    RfmMember,
    RfmReport,
    RfmSegment,
    RfmSummary,
    RuleIssuance,
    SpendDecile,
)
from patron.analytics.sales_schemas import (
    CategoryTrendsReport,
    ProductSales,
    ProductsReport,
    SalesSummary,
    SegmentFigures,
    SegmentsReport,
    SegmentsSummary,
    StoreSales,
    StoresReport,
    TrendMonth,
    TrendsSummary,
)
from patron.errors import InvalidInput, NotFound
from patron.program.service import Program


class UnknownReport(NotFound):
    code = "unknown_report"
    title = "Unknown report"


class UnknownSegment(InvalidInput):
    code = "unknown_segment"
    title = "Unknown RFM segment"


class InvalidCalibration(InvalidInput):
    code = "invalid_calibration_end"
    title = "Calibration end outside the period"


ORDER_FACTS = ("member_id", "total", "occurred_at")
LINE_FACTS = ("order_pk", "quantity", "amount", "discount")
LEVEL_REPORTS = frozenset({"products", "category-trends"})
TABLES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "members": {"members": None, "orders": ORDER_FACTS},
    "points": {"ledger": ("member_id", "kind", "points", "occurred_at", "rule"),
               "lots": ("id", "points", "remaining", "state", "earned_at"),
               "lot_expiries": None, "accounts": None},
    "points-overview": {"ledger": ("kind", "points", "occurred_at"), "accounts": None},
    # orders only to find the channel of the order a spend names (and the data's last day)
    "rewards": {"spends": None, "orders": ("order_id", "member_id", "channel", "occurred_at"),
                "reward_redemptions": None, "gift_grants": None},
    "behaviour": {"orders": ("id", "member_id", "channel", "total", "occurred_at"),
                  "order_lines": ("order_pk", "category", "quantity", "amount"), "events": None},
    "rfm": {"orders": ORDER_FACTS},
    "clv": {"orders": ORDER_FACTS},
    "cohorts": {"members": None, "orders": ("member_id", "occurred_at")},
    "stores": {"orders": ("id", "member_id", "total", "occurred_at", "store_id", "discount",
                          "coupon_value"),
               "order_lines": ("order_pk", "quantity", "discount")},
    # and of the lines, the product level asked for (see ``_tables``)
    "products": {"orders": ("id", "member_id", "occurred_at"), "order_lines": LINE_FACTS},
    "category-trends": {"orders": ("id", "member_id", "occurred_at"),
                        "order_lines": LINE_FACTS},
    "segments": {"orders": ORDER_FACTS, "accounts": None, "segment_members": None},
}
"""What each report reads, and of which columns (``None``: all); ``members`` too when
the query filters on members, and the sales channel when it filters on one."""


FOLLOW_DATA = frozenset({"members", "rfm", "clv", "cohorts", "segments"})
"""Reports of recency (lapsed members, RFM, lifetime value, retention): on old data and
with no end date, they are as of the data's last day (see ``domain.as_of``)."""


def _tables(name: str, query: ReportQuery) -> dict[str, tuple[str, ...] | None]:
    tables = dict(TABLES[name])
    if name in LEVEL_REPORTS:  # one level of the product hierarchy, not all five
        tables["order_lines"] = (*LINE_FACTS, query.level)
    if query.region is not None or query.join_channel is not None:
        # the member filter deletes the other members' rows: by their member
        tables = {"members": None, **{
            table: columns if columns is None or "member_id" in columns
            or table not in queries.MEMBER_TABLES else (*columns, "member_id")
            for table, columns in tables.items()}}
    if query.channel is not None:
        for table in ("orders", "events"):
            columns = tables.get(table)
            if columns is not None and "channel" not in columns:
                tables[table] = (*columns, "channel")
    return tables


@dataclass(frozen=True)
class Request:
    program: Program
    query: ReportQuery
    period: Period
    as_of: date
    header: dict[str, Any]

    @property
    def exponent(self) -> int:
        return self.program.settings.minor_exponent

    @property
    def point_value(self) -> Decimal:
        """Currency units per point: the query's, else the program's setting."""
        if self.query.point_value is not None:
            return self.query.point_value
        return self.program.settings.point_value_minor.scaleb(-self.exponent)


def run_report(conn: Connection, program: Program, name: str, query: ReportQuery,
               now: datetime, *, source: str | None = None) -> Report:
    """Build one report for one program, as of the query's end date, else ``now``'s day
    (or, for a recency report on old data, the data's last day)."""
    if name not in REPORTS:
        raise UnknownReport(f"there is no report {name!r}; reports: {', '.join(REPORTS)}",
                            reports=list(REPORTS))
    [report] = run_reports(conn, program, [(name, query)], now, source=source)
    return report


def run_reports(conn: Connection, program: Program, asked: Sequence[tuple[str, ReportQuery]],
                now: datetime, *, source: str | None = None) -> list[Report]:
    """Several reports of one program over one snapshot, each table read once for all of
    them (a page that shows several reports pays for one reading); each report is the
    one ``run_report`` gives. A member or channel filter deletes rows from the snapshot,
    so reports with one are each given a snapshot of their own. A report asked again
    while nothing has been committed to the database is not built again (``cache``)."""
    local_now = now.astimezone(program.settings.zone).replace(tzinfo=None)
    for name, query in asked:
        if name not in BUILDERS:
            raise UnknownReport(f"there is no report {name!r}; reports: {', '.join(REPORTS)}",
                                reports=list(REPORTS))
        domain.window(query.start, query.end, local_now)  # a bad range fails before reading
    version = cache.data_version(conn)
    keys = [None if version is None else
            (version, _program_key(program), name, query.model_dump_json(),
             local_now.date(), source or os.environ.get(repository.SOURCE_ENV))
            for name, query in asked]
    found: list[Report | None] = [None if key is None else cache.REPORTS.get(key)
                                  for key in keys]
    missing = [i for i, report in enumerate(found) if report is None]
    if missing:
        built = _build_all(conn, program, [asked[i] for i in missing], local_now, now, source)
        for i, report in zip(missing, built):
            found[i] = report
            if keys[i] is not None:
                cache.REPORTS.put(keys[i], report)
    # a kept report is the same report; only the time it was asked for is now's
    return [report if report.generated_at == now else
            report.model_copy(update={"generated_at": now}) for report in found]


def _build_all(conn: Connection, program: Program, asked: Sequence[tuple[str, ReportQuery]],
               local_now: datetime, now: datetime, source: str | None) -> list[Report]:
    if repository.scans_apart(conn, source):
        return worker.run_apart(_url(conn), _build_here, program, list(asked), local_now, now,
                                source)
    return _build_here(conn, program, asked, local_now, now, source)


def start_worker(engine: Engine, *, wait: bool = False) -> None:
    """On SQLite, start the analytics worker and have it import the reports' code now, in
    the background (a server does as it starts), so the first report does not wait for it;
    ``wait``: and return once it is ready."""
    if repository.scans_apart(engine, None):
        if wait:
            worker.run_apart(_url(engine), _ready)
            return
        threading.Thread(target=worker.run_apart, args=(_url(engine), _ready), daemon=True,
                         name="analytics-worker-start").start()


def _ready(engine: Engine) -> None:
    """Nothing: sent to the worker, it makes the worker import this module."""


def _url(conn: Connection | Engine) -> str:
    return conn.engine.url.render_as_string(hide_password=False)


def _build_here(conn: Connection | Engine, program: Program,
                asked: Sequence[tuple[str, ReportQuery]], local_now: datetime, now: datetime,
                source: str | None) -> list[Report]:
    if len(asked) > 1 and any(_filtered(query) for _, query in asked):
        return [report for one in asked
                for report in _build_here(conn, program, [one], local_now, now, source)]
    wanted = [_tables(name, query) for name, query in asked]
    with repository.snapshot(conn, program.id, program.settings.timezone, _union(wanted),
                             source=source) as w:
        # each report's last day of activity is of the tables it reads, before any filter
        ends = [queries.last_activity_day(w, repository.with_needs(tables))
                for tables in wanted]
        first = asked[0][1]
        queries.scope(w, region=first.region, join_channel=first.join_channel,
                      channel=first.channel)
        return [_build(w, program, name, query, data_end, local_now, now)
                for (name, query), data_end in zip(asked, ends)]


def _filtered(query: ReportQuery) -> bool:
    return (query.region, query.join_channel, query.channel) != (None, None, None)


def _union(wanted: Sequence[dict[str, tuple[str, ...] | None]]
           ) -> dict[str, tuple[str, ...] | None]:
    """The tables of several reports, each with every column one of them reads."""
    union: dict[str, tuple[str, ...] | None] = {}
    for tables in wanted:
        for table, columns in tables.items():
            if table in union and (union[table] is None or columns is None):
                union[table] = None
            elif table in union:
                union[table] = (*union[table], *(c for c in columns if c not in union[table]))
            else:
                union[table] = columns
    return union


def _build(w: Warehouse, program: Program, name: str, query: ReportQuery,
           data_end: date | None, local_now: datetime, now: datetime) -> Report:
    as_of = domain.as_of(query.start, query.end, local_now.date(), data_end,
                         follows_data=name in FOLLOW_DATA)
    window = domain.window(query.start, as_of.day, local_now)
    header = dict(report=name, program=program.slug, currency=program.settings.currency,
                  minor_exponent=program.settings.minor_exponent, start=query.start,
                  as_of=window.as_of, as_of_basis=as_of.basis, data_end=data_end,
                  warnings=list(as_of.warnings), generated_at=now, source=w.source)
    request = Request(program, query, Period(window.start, window.end), window.as_of, header)
    return BUILDERS[name](w, request)


def _counts(pairs: list[tuple[Any, int]]) -> list[Count]:
    total = sum(n for _, n in pairs)
    return [Count(key=str(k), members=n, share=domain.share(n, total)) for k, n in pairs]


# --------------------------------------------------------------------------- members

def members_report(w: Warehouse, rq: Request) -> MembersReport:
    p, q = rq.period, rq.query
    totals = queries.order_totals(w, p)
    activity = queries.activity(w, p, rq.as_of, q.lapsed_days)
    before, joins = queries.joins_by_month(w, p)
    deciles = queries.spend_deciles(w, p)
    ages = queries.member_ages(w, p, rq.as_of)
    summary = MembersSummary(
        members=sum(activity.values()), purchasers=totals["purchasers"], **activity,
        orders=totals["orders"], revenue=totals["revenue"],
        average_order_value=domain.average_minor(totals["revenue"], totals["orders"]),
        average_spend_per_purchaser=domain.average_minor(totals["revenue"],
                                                         totals["purchasers"]),
        top_20_percent_revenue_share=domain.top_share(
            [(d["decile"], d["revenue"]) for d in deciles], totals["revenue"]))
    return MembersReport(
        **rq.header, summary=summary,
        activity=_counts([(k, activity[k]) for k in ("active", "lapsed", "never_purchased")]),
        by_join_channel=_counts(queries.member_counts(w, "join_channel", p)),
        by_region=_counts(queries.member_counts(w, "region", p)),
        by_age_band=_counts(domain.fold_bands(ages, domain.AGE_BANDS, unknown=True)),
        growth=[GrowthMonth(month=m, new_members=n, total_members=t) for m, n, t in
                domain.monthly_growth(before, joins, q.start, rq.as_of)],
        spend_deciles=[SpendDecile(
            decile=d["decile"], members=d["members"], revenue=d["revenue"],
            share_of_revenue=domain.share(d["revenue"], totals["revenue"]),
            average_spend=domain.average_minor(d["revenue"], d["members"]) or 0)
            for d in deciles])


# --------------------------------------------------------------------------- points

def points_report(w: Warehouse, rq: Request) -> PointsReport:
    p, value = rq.period, rq.point_value
    months = _points_months(w, p)
    cohorts = queries.lot_cohorts(w, p)
    rate, closed = domain.breakage_rate([(c["issued"], c["expired"], c["closed"])
                                         for c in cohorts])
    summary = PointsSummary(**_points_totals(months), breakage_rate=rate,
                            closed_cohorts=closed)
    return PointsReport(
        **rq.header, summary=summary, monthly=months, liability=_liability(w, rq),
        earn_cohorts=[EarnCohort(**c, breakage=domain.share(c["expired"], c["issued"]))
                      for c in cohorts],
        rules=[RuleIssuance(**r, cost=domain.points_value(r["points"], value, rq.exponent))
               for r in queries.issuance_by_rule(w, p)])


def points_overview(w: Warehouse, rq: Request) -> PointsOverview:
    """The points report's months, totals and liability, by the same code."""
    months = _points_months(w, rq.period)
    return PointsOverview(**{**rq.header, "report": "points-overview"},
                          summary=PointsTotals(**_points_totals(months)), monthly=months,
                          liability=_liability(w, rq))


def _points_months(w: Warehouse, p: Period) -> list[PointsMonth]:
    return [PointsMonth(**m, net=domain.net_points(m["issued"], m["spent"], m["expired"],
                                                   m["reversed"], m["adjusted"]))
            for m in queries.points_by_month(w, p)]


def _points_totals(months: list[PointsMonth]) -> dict[str, int]:
    return {k: sum(getattr(m, k) for m in months)
            for k in ("issued", "spent", "expired", "reversed", "adjusted")}


def _liability(w: Warehouse, rq: Request) -> Liability:
    held = queries.balances(w)
    points = held["available"] + held["pending"]
    return Liability(available_points=held["available"], pending_points=held["pending"],
                     points=points, value=domain.points_value(points, rq.point_value,
                                                              rq.exponent),
                     point_value=rq.point_value, members_with_points=held["members"])


# --------------------------------------------------------------------------- rewards

def rewards_report(w: Warehouse, rq: Request) -> RewardsReport:
    p = rq.period
    queries.create_redemptions(w)
    totals = queries.redemption_totals(w, p)
    gifts = [GiftGrants(**g) for g in queries.gifts_with_purchase(w, p)]
    return RewardsReport(
        **rq.header,
        summary=RewardsSummary(
            **totals, value=domain.points_value(totals["points"], rq.point_value, rq.exponent),
            net_value=domain.points_value(totals["net_points"], rq.point_value, rq.exponent),
            gifts_granted=sum(g.granted for g in gifts),
            gifts_cancelled=sum(g.cancelled for g in gifts)),
        by_reward=[RewardRedemptions(**r)
                   for r in queries.redemptions_by_reward(w, p, rq.query.limit)],
        by_channel=[ChannelRedemptions(**r) for r in queries.redemptions_by(w, ("channel",), p)],
        monthly=[RedemptionMonth(**r) for r in queries.redemptions_by_month(w, p)],
        donations=[CauseDonations(**r) for r in queries.donations_by_cause(w, p)],
        gifts_with_purchase=gifts)


@dataclass(frozen=True)
class CatalogFigures:
    rewards: list[RewardRedemptions]
    """The rewards report's ``by_reward`` rows of catalog rewards (no points spends)."""
    gifts: list[GiftGrants]
    """The rewards report's ``gifts_with_purchase``."""


def catalog_figures(conn: Connection, program: Program, now: datetime, *,
                    source: str | None = None) -> CatalogFigures:
    """The rewards report's figures of the catalog, as of ``now``'s day: redemptions per
    reward and gifts given with purchases, what the console's catalog and dashboard show.

    Only the catalog's redemptions and the gifts are read: the report's points spends
    outside the catalog need every order (to find each spend's channel), which is most
    of that report's reading and none of these figures."""
    local_now = now.astimezone(program.settings.zone).replace(tzinfo=None)
    window = domain.window(None, None, local_now)
    period = Period(window.start, window.end)
    version = cache.data_version(conn)
    key = None if version is None else (
        version, "catalog", _program_key(program), local_now.date(),
        source or os.environ.get(repository.SOURCE_ENV))
    if key is not None and (kept := cache.REPORTS.get(key)) is not None:
        return kept
    if repository.scans_apart(conn, source):
        figures = worker.run_apart(_url(conn), _catalog, program, period, source)
    else:
        figures = _catalog(conn, program, period, source)
    if key is not None:
        cache.REPORTS.put(key, figures)
    return figures


def _program_key(program: Program) -> tuple[Any, ...]:
    return (program.id, program.slug, program.version, program.settings.model_dump_json())


def _catalog(conn: Connection | Engine, program: Program, period: Period,
             source: str | None) -> CatalogFigures:
    with repository.snapshot(conn, program.id, program.settings.timezone,
                             {"reward_redemptions": None, "gift_grants": None},
                             source=source) as w:
        queries.create_redemptions(w, spends=False)
        return CatalogFigures(
            [RewardRedemptions(**r) for r in queries.redemptions_by_reward(w, period, None)],
            [GiftGrants(**g) for g in queries.gifts_with_purchase(w, period)])


# --------------------------------------------------------------------------- behaviour

def behaviour_report(w: Warehouse, rq: Request) -> BehaviourReport:
    p = rq.period
    gaps = queries.purchase_gaps(w, p)
    counts = queries.orders_per_member(w, p)
    rhythm = domain.purchase_rhythm(counts, gaps)
    bands, drawn = domain.frequency_bands(counts, rq.query.band_lows)
    summary = BehaviourSummary(**vars(rhythm), frequency_bands=drawn)
    categories = queries.categories(w, p)
    revenue = sum(c["revenue"] for c in categories)
    channels = queries.channels(w, p)
    return BehaviourReport(
        **rq.header, summary=summary,
        inter_purchase=[GapBand(gap=label, intervals=n, share=domain.share(n, rhythm.intervals))
                        for label, n in domain.fold_bands(gaps, domain.GAP_BANDS)],
        frequency=[FrequencyBand(orders=label, members=n,
                                 share=domain.share(n, rhythm.purchasers))
                   for label, n in domain.fold_bands(counts, bands)],
        categories=[CategoryShare(**c, share_of_revenue=domain.share(c["revenue"], revenue))
                    for c in categories],
        channels=[ChannelShare(**c, share_of_orders=domain.share(c["orders"], rhythm.orders))
                  for c in channels],
        events=[EventTypeCount(**e) for e in queries.event_types(w, p)])


# --------------------------------------------------------------------------- RFM

def rfm_report(w: Warehouse, rq: Request) -> RfmReport:
    segment = rq.query.segment
    if segment is not None and segment not in domain.SEGMENT_NAMES:
        raise UnknownSegment(f"no RFM segment {segment!r}; segments: "
                             f"{', '.join(domain.SEGMENT_NAMES)}", field="segment")
    inputs = queries.rfm_inputs(w, rq.period, rq.as_of)
    scores = domain.score_rfm_columns(inputs["member_id"], inputs["recency_days"],
                                      inputs["frequency"], inputs["monetary"])
    listed = range(len(scores)) if segment is None else [
        i for i, s in enumerate(scores.segment) if s == segment]
    listed = listed[:rq.query.limit] if rq.query.limit else listed
    s, codes = scores, scores.code
    members = [RfmMember(
        member_id=s.member_id[i], recency_days=s.recency_days[i], frequency=s.frequency[i],
        monetary=s.monetary[i], r=s.r[i], f=s.f[i], m=s.m[i], score=codes[i],
        segment=s.segment[i]) for i in listed]
    return RfmReport(
        **rq.header,
        summary=RfmSummary(members_scored=len(scores), members_listed=len(members)),
        segments=[RfmSegment(**vars(s)) for s in domain.segment_sizes(scores)],
        members=members)


# --------------------------------------------------------------------------- CLV

def _calibration_end(rq: Request) -> date:
    end = rq.query.calibration_end or rq.as_of
    if end > rq.as_of or (rq.query.start and end < rq.query.start):
        raise InvalidCalibration(f"calibration_end {end} must fall within the period "
                                 f"({rq.query.start or 'first purchase'} to {rq.as_of})",
                                 field="calibration_end")
    return end


def clv_report(w: Warehouse, rq: Request) -> ClvReport:
    q, cal_end = rq.query, _calibration_end(rq)
    histories = clv.histories(queries.purchase_histories(w, rq.period, cal_end), rq.exponent)
    model = clv.fit(histories, q.time_unit)
    ahead = clv.predict(model, histories, q.horizon_days)
    holdout_days = (rq.as_of - cal_end).days
    actual = queries.holdout_purchases(w, rq.period, cal_end) if holdout_days else {}
    expected_holdout = clv.predict(model, histories, holdout_days) if holdout_days else None
    members = clv.member_rows(histories, ahead, model.unit, rq.exponent,
                              actual if holdout_days else None)
    listed = members[:q.limit] if q.limit else members
    unpredicted = [m for m in members if m["expected_value"] is None]
    summary = ClvSummary(
        calibration_end=cal_end, time_unit=q.time_unit, horizon_days=q.horizon_days,
        customers=model.bgnbd.customers, repeat_customers=model.gamma_gamma.customers,
        expected_purchases=round(clv.finite_sum(ahead.expected_purchases), 3),
        expected_value=sum(m["expected_value"] for m in members
                           if m["expected_value"] is not None),
        members_without_prediction=len(unpredicted), holdout_days=holdout_days,
        holdout_purchases=sum(actual.values()) if holdout_days else None,
        holdout_expected_purchases=(
            round(clv.finite_sum(expected_holdout.expected_purchases), 3)
            if expected_holdout else None),
        members_listed=len(listed))
    header = rq.header
    if unpredicted:
        header = {**header, "warnings": [*header["warnings"], _unpredicted(model, unpredicted)]}
    return ClvReport(**header, summary=summary,
                     bgnbd=BgNbdParameters(**vars(model.bgnbd)),
                     gamma_gamma=GammaGammaParameters(**vars(model.gamma_gamma)),
                     members=[ClvMember(**m) for m in listed])


def _unpredicted(model: clv.Fit, members: list[dict[str, Any]]) -> str:
    once = sum(1 for m in members if m["frequency"] == 0)
    return (f"the fitted models give no finite expected value for {len(members)} members "
            f"({once} of them without a repeat purchase): their expected figures are null "
            f"and left out of the totals; the BG/NBD fit is degenerate (a={model.bgnbd.a:.3g}, "
            f"b={model.bgnbd.b:.3g}), usually a sign of too little history")


# --------------------------------------------------------------------------- cohorts

def cohorts_report(w: Warehouse, rq: Request) -> CohortsReport:
    sizes = dict(queries.cohort_sizes(w, rq.period))
    rows = domain.cohort_matrix(sizes, queries.cohort_activity(w, rq.period),
                                domain.month_start(rq.as_of))
    return CohortsReport(
        **rq.header,
        summary=CohortsSummary(cohorts=len(rows), members=sum(r.members for r in rows),
                               average_month_1_retention=domain.weighted_retention(rows, 1)),
        cohorts=[Cohort(cohort=r.cohort, members=r.members, active=r.active,
                        retention=r.retention) for r in rows])


# --------------------------------------------------------------------------- sales

def stores_report(w: Warehouse, rq: Request) -> StoresReport:
    stores = queries.by_store(w, rq.period)
    revenue = sum(s["revenue"] for s in stores)
    totals = queries.order_totals(w, rq.period)
    return StoresReport(
        **rq.header,
        summary=SalesSummary(level="store", keys=len(stores), revenue=revenue,
                             orders=totals["orders"], members=totals["purchasers"],
                             units=sum(s["units"] for s in stores),
                             discount=sum(s["discount"] for s in stores)),
        stores=[StoreSales(**s, share_of_revenue=domain.share(s["revenue"], revenue),
                           average_basket=domain.average_minor(s["revenue"], s["orders"]))
                for s in stores])


def products_report(w: Warehouse, rq: Request) -> ProductsReport:
    level = rq.query.level
    products = queries.by_product(w, rq.period, level)
    totals = queries.sales_totals(w, rq.period)
    return ProductsReport(
        **rq.header, summary=SalesSummary(level=level, keys=len(products), **totals),
        products=[ProductSales(**p, share_of_revenue=domain.share(p["revenue"],
                                                                  totals["revenue"]))
                  for p in products])


def category_trends_report(w: Warehouse, rq: Request) -> CategoryTrendsReport:
    level = rq.query.level
    rows = queries.product_trends(w, rq.period, level)
    monthly: dict[date, int] = {}
    for row in rows:
        monthly[row["month"]] = monthly.get(row["month"], 0) + row["revenue"]
    return CategoryTrendsReport(
        **rq.header,
        summary=TrendsSummary(level=level, months=len(monthly),
                              keys=len({row["key"] for row in rows}),
                              revenue=sum(monthly.values())),
        trends=[TrendMonth(month=r["month"], key=r["key"], revenue=r["revenue"],
                           units=r["units"], orders=r["orders"], members=r["members"],
                           share_of_month=domain.share(r["revenue"], monthly[r["month"]]))
                for r in rows])


def segments_report(w: Warehouse, rq: Request) -> SegmentsReport:
    rows = queries.by_segment(w, rq.period, rq.as_of, rq.query.lapsed_days)
    return SegmentsReport(
        **rq.header,
        summary=SegmentsSummary(segments=len(rows),
                                members_in_a_segment=queries.members_in_segments(w)),
        segments=[SegmentFigures(**r, spend_per_member=domain.average_minor(r["revenue"],
                                                                            r["members"]))
                  for r in rows])


BUILDERS: dict[str, Callable[[Warehouse, Request], Report | PointsOverview]] = {
    "members": members_report, "points": points_report, "points-overview": points_overview,
    "rewards": rewards_report,
    "behaviour": behaviour_report, "rfm": rfm_report, "clv": clv_report,
    "cohorts": cohorts_report, "stores": stores_report, "products": products_report,
    "category-trends": category_trends_report, "segments": segments_report}
