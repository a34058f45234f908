"""Analytics over HTTP: one GET per report, for analyst and admin keys.

Every report takes the same query parameters (``start``, ``end``, member and
channel filters and the report's own options) and answers JSON, or with
``format=csv`` the report's main table (another with ``table=``) as CSV.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import ConfigDict, Field

from patron.analytics import render, service
from patron.analytics.schemas import (
    REPORTS,
    BehaviourReport,
    ClvReport,
    CohortsReport,
    MembersReport,
    PointsReport,
    Report,
    ReportQuery,
    RewardsReport,
    RfmReport,
)
from patron.analytics.sales_schemas import (CategoryTrendsReport, ProductsReport,
                                            SegmentsReport, StoresReport)
from patron.api.deps import Analyst, problem_responses

router = APIRouter(prefix="/analytics", tags=["analytics"])
ERRORS = problem_responses(401, 403, 404, 422)
CSV_RESPONSE = {"content": {"text/csv": {}}, "description": "The report, or with "
                "format=csv its main table (or the one named by table) as CSV"}


class ReportParameters(ReportQuery):
    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "csv"] = Field("json", description="json, or csv for one table")
    table: str | None = Field(None, max_length=40,
                              description="csv: which table (default: the report's main one)")


Params = Annotated[ReportParameters, Query()]


def _answer(ctx: Analyst, name: str, params: ReportParameters) -> Any:
    query = ReportQuery.model_validate(params.model_dump(exclude={"format", "table"}))
    report: Report = ctx.read(lambda conn, program: service.run_report(
        conn, program, name, query, ctx.clock.now()))
    if params.format == "csv":
        body = render.to_csv(report, params.table)
        table, _ = render.table(report, params.table)
        return Response(body, media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{name}-{table}.csv"'})
    return report


@router.get("", response_model=list[str])
def list_reports(ctx: Analyst) -> list[str]:
    """The reports this server can build."""
    return list(REPORTS)


@router.get("/members", response_model=MembersReport, responses={**ERRORS, 200: CSV_RESPONSE})
def members_report(ctx: Analyst, params: Params):
    """Member structure: counts by join channel, region and age band, growth by join
    month, active vs lapsed (no purchase in ``lapsed_days``), average order value and
    how concentrated spend is (deciles of purchasers)."""
    return _answer(ctx, "members", params)


@router.get("/points", response_model=PointsReport, responses={**ERRORS, 200: CSV_RESPONSE})
def points_report(ctx: Analyst, params: Params):
    """Points economics: issued, spent, expired, reversed per month; outstanding
    liability in points and money (``point_value`` per point); breakage over closed
    earn cohorts; issuance and cost per earn rule."""
    return _answer(ctx, "points", params)


@router.get("/rewards", response_model=RewardsReport, responses={**ERRORS, 200: CSV_RESPONSE})
def rewards_report(ctx: Analyst, params: Params):
    """Redemptions by reward and type, by channel and by month: points burned, the
    cancellations among them and what still stands (net); donations per cause; and
    gifts earn rules gave with purchases. Catalog redemptions are named by reward id;
    points spent outside the catalog appear as ``points_spend`` named by their reason."""
    return _answer(ctx, "rewards", params)


@router.get("/behaviour", response_model=BehaviourReport,
            responses={**ERRORS, 200: CSV_RESPONSE})
def behaviour_report(ctx: Analyst, params: Params):
    """Purchase behaviour: time between purchases, orders per member and repeat rate,
    category preferences, channel mix and the events members send."""
    return _answer(ctx, "behaviour", params)


@router.get("/rfm", response_model=RfmReport, responses={**ERRORS, 200: CSV_RESPONSE})
def rfm_report(ctx: Analyst, params: Params):
    """Recency, frequency and monetary quintile scores (1-5) per purchaser, with named
    segments (Champions, Loyal, At risk, Hibernating, …) and their sizes."""
    return _answer(ctx, "rfm", params)


@router.get("/clv", response_model=ClvReport, responses={**ERRORS, 200: CSV_RESPONSE})
def clv_report(ctx: Analyst, params: Params):
    """Lifetime value: a BG/NBD fit of purchase frequency and a Gamma-Gamma fit of spend
    up to ``calibration_end``, their parameters and log-likelihoods, and per member the
    probability of being alive, expected purchases and value over ``horizon_days``.
    Too little history answers 422 ``insufficient_data``."""
    return _answer(ctx, "clv", params)


@router.get("/cohorts", response_model=CohortsReport, responses={**ERRORS, 200: CSV_RESPONSE})
def cohorts_report(ctx: Analyst, params: Params):
    """Retention by monthly join cohort: the share of each cohort buying in each month
    since joining."""
    return _answer(ctx, "cohorts", params)


@router.get("/stores", response_model=StoresReport, responses={**ERRORS, 200: CSV_RESPONSE})
def stores_report(ctx: Analyst, params: Params):
    """Sales per store: revenue, orders, members, units, average basket, discounts (the
    orders' own and their lines') and coupon value; orders naming no store as
    ``unknown``."""
    return _answer(ctx, "stores", params)


@router.get("/products", response_model=ProductsReport,
            responses={**ERRORS, 200: CSV_RESPONSE})
def products_report(ctx: Analyst, params: Params):
    """Sales per product at one ``level`` (department, category, subcategory, brand or
    sku): revenue, units, orders, members, line discounts and share of revenue."""
    return _answer(ctx, "products", params)


@router.get("/category-trends", response_model=CategoryTrendsReport,
            responses={**ERRORS, 200: CSV_RESPONSE})
def category_trends_report(ctx: Analyst, params: Params):
    """Revenue, units, orders and members per month (program timezone) and value of a
    product ``level`` (default: category), with each one's share of the month."""
    return _answer(ctx, "category-trends", params)


@router.get("/segments", response_model=SegmentsReport,
            responses={**ERRORS, 200: CSV_RESPONSE})
def segments_report(ctx: Analyst, params: Params):
    """Per active segment, its current members: how many, how many active (bought in the
    last ``lapsed_days``), purchasers, orders and revenue in the period, spend per member
    and the points they hold. A segment with no members shows zeros."""
    return _answer(ctx, "segments", params)


@router.get("/{report}", include_in_schema=False)
def unknown_report(report: str, ctx: Analyst) -> None:
    raise service.UnknownReport(f"there is no report {report!r}; reports: {', '.join(REPORTS)}",
                                reports=list(REPORTS))
