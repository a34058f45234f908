"""Analytics payloads: the query every report accepts, and one schema per report.

Money is integer minor units of the program's currency (named in every report);
points are integers; shares and rates are fractions between 0 and 1. The query and
the header are in ``query``, the sales reports in ``sales_schemas``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from patron.analytics.query import (MAX_BANDS, REPORTS, Count, ProductLevel, ReportBase,
                                    ReportName, ReportQuery)
from patron.analytics.sales_schemas import (CategoryTrendsReport, ProductSales, ProductsReport,
                                            SalesSummary, SegmentFigures, SegmentsReport,
                                            SegmentsSummary, StoreSales, StoresReport,
                                            TrendMonth, TrendsSummary)

__all__ = ["MAX_BANDS", "REPORTS", "CategoryTrendsReport", "Count", "ProductLevel",
           "ProductSales", "ProductsReport", "ReportBase", "ReportName", "ReportQuery",
           "SalesSummary", "SegmentFigures", "SegmentsReport", "SegmentsSummary", "StoreSales",
           "StoresReport", "TrendMonth", "TrendsSummary"]


# --------------------------------------------------------------------------- members

class GrowthMonth(BaseModel):
    month: date
    new_members: int
    total_members: int


class SpendDecile(BaseModel):
    decile: int = Field(description="1: the tenth of purchasers who spent most")
    members: int
    revenue: int
    share_of_revenue: float | None
    average_spend: int


class MembersSummary(BaseModel):
    members: int = Field(description="Members who had joined by the end")
    purchasers: int = Field(description="Members with an order in the period")
    active: int = Field(description="Last bought at most lapsed_days before as_of")
    lapsed: int = Field(description="Bought, but not in the last lapsed_days")
    never_purchased: int
    orders: int
    revenue: int
    average_order_value: int | None
    average_spend_per_purchaser: int | None
    top_20_percent_revenue_share: float | None = Field(
        description="Share of revenue from the 20 % of purchasers who spent most")


class MembersReport(ReportBase):
    report: Literal["members"] = "members"
    summary: MembersSummary
    activity: list[Count]
    by_join_channel: list[Count]
    by_region: list[Count]
    by_age_band: list[Count]
    growth: list[GrowthMonth]
    spend_deciles: list[SpendDecile]


# --------------------------------------------------------------------------- points

class PointsMonth(BaseModel):
    month: date
    issued: int
    spent: int
    expired: int
    reversed: int
    adjusted: int = Field(description="Manual adjustments, signed")
    net: int


class Liability(BaseModel):
    available_points: int
    pending_points: int = Field(description="Still in the return window")
    points: int
    value: int = Field(description="points × point_value, minor units")
    point_value: Decimal
    members_with_points: int


class EarnCohort(BaseModel):
    month: date = Field(description="Month the points were earned")
    issued: int
    expired: int
    outstanding: int = Field(description="Still spendable or pending")
    closed: bool = Field(description="No point of this month can still be spent or expire")
    breakage: float | None = Field(description="expired / issued")


class RuleIssuance(BaseModel):
    rule: str
    earns: int
    members: int
    points: int
    cost: int = Field(description="points × point_value, minor units")


class PointsSummary(BaseModel):
    issued: int
    spent: int
    expired: int
    reversed: int
    adjusted: int
    breakage_rate: float | None = Field(
        description="Expired / issued over closed earn cohorts; null until one closes")
    closed_cohorts: int


class PointsReport(ReportBase):
    report: Literal["points"] = "points"
    summary: PointsSummary
    liability: Liability
    monthly: list[PointsMonth]
    earn_cohorts: list[EarnCohort]
    rules: list[RuleIssuance]


class PointsTotals(BaseModel):
    issued: int
    spent: int
    expired: int
    reversed: int
    adjusted: int


class PointsOverview(ReportBase):
    """The points report's months, totals and liability, without its earn cohorts and
    rules (which read every lot and every earn's rule): what the console's dashboard
    shows. Not one of the API's reports: the same figures are in ``points``."""

    report: Literal["points-overview"] = "points-overview"  # type: ignore[assignment]
    summary: PointsTotals
    liability: Liability
    monthly: list[PointsMonth]


# --------------------------------------------------------------------------- rewards

class RedemptionFigures(BaseModel):
    """Redemptions made in the period and, of them, those cancelled by its end.

    A row model names its key model after this one among its bases: pydantic
    takes fields from the last base first, so the keys lead, as CSV columns.
    """

    redemptions: int
    members: int
    points: int = Field(description="Points the redemptions cost")
    cancelled: int = Field(description="Of these redemptions, those cancelled by the end of "
                           "the period")
    points_refunded: int = Field(description="Points the cancellations gave back")
    net_redemptions: int = Field(description="redemptions - cancelled")
    net_points: int = Field(description="points - points_refunded")


class RewardKey(BaseModel):
    reward_type: str = Field(description="The reward's type (coupon, gift, cashback, "
                             "experience, donation), or points_spend for points spent "
                             "outside the catalog")
    reward: str = Field(description="The reward's id, or the spend's reason")
    name: str = Field(description="The reward's name at its latest redemption, or the "
                      "spend's reason")


class RewardRedemptions(RedemptionFigures, RewardKey):
    pass


class ChannelKey(BaseModel):
    channel: str = Field(description="Channel of the order the points paid for, or 'no order' "
                         "(catalog redemptions have none)")


class ChannelRedemptions(RedemptionFigures, ChannelKey):
    pass


class MonthKey(BaseModel):
    month: date


class RedemptionMonth(RedemptionFigures, MonthKey):
    pass


class CauseKey(BaseModel):
    cause: str = Field(description="The donation reward's cause, as it was when redeemed")


class CauseDonations(RedemptionFigures, CauseKey):
    pass


class GiftGrants(BaseModel):
    reward: str = Field(description="The catalog gift an earn rule gave with a purchase")
    name: str = Field(description="The gift's name at its latest grant")
    granted: int = Field(description="Gifts given in the period")
    members: int
    cancelled: int = Field(description="Of these, those a return cancelled by the end of "
                           "the period")
    net: int = Field(description="granted - cancelled")


class RewardsSummary(RedemptionFigures):
    value: int = Field(description="points × point_value, minor units")
    net_value: int = Field(description="net_points × point_value, minor units")
    with_order: int = Field(description="Redemptions tied to an order")
    reward_types: int
    gifts_granted: int = Field(description="Gifts given with purchases (not redeemed)")
    gifts_cancelled: int


class RewardsReport(ReportBase):
    report: Literal["rewards"] = "rewards"
    summary: RewardsSummary
    by_reward: list[RewardRedemptions]
    by_channel: list[ChannelRedemptions]
    monthly: list[RedemptionMonth]
    donations: list[CauseDonations] = Field(description="Donation rewards per cause")
    gifts_with_purchase: list[GiftGrants] = Field(
        description="Catalog gifts earn rules gave with purchases, per reward")


# --------------------------------------------------------------------------- behaviour

class GapBand(BaseModel):
    gap: str
    intervals: int
    share: float | None


class FrequencyBand(BaseModel):
    orders: str
    members: int
    share: float | None


class CategoryShare(BaseModel):
    category: str
    lines: int
    quantity: int
    revenue: int
    members: int
    share_of_revenue: float | None


class ChannelShare(BaseModel):
    channel: str
    orders: int
    revenue: int
    members: int
    share_of_orders: float | None


class EventTypeCount(BaseModel):
    type: str
    events: int
    members: int


class BehaviourSummary(BaseModel):
    frequency_bands: Literal["default", "given", "quantiles"] = Field(
        description="How the frequency bands were drawn: the fixed ones, the query's bands, "
                    "or at quantiles of orders per purchaser (frequent shoppers)")
    purchasers: int
    orders: int
    orders_per_purchaser: float | None
    repeat_rate: float | None = Field(description="Share of purchasers with 2+ orders")
    intervals: int = Field(description="Gaps between consecutive purchase days")
    mean_days_between: float | None
    p25_days_between: float | None
    median_days_between: float | None
    p75_days_between: float | None
    p90_days_between: float | None


class BehaviourReport(ReportBase):
    report: Literal["behaviour"] = "behaviour"
    summary: BehaviourSummary
    inter_purchase: list[GapBand]
    frequency: list[FrequencyBand]
    categories: list[CategoryShare]
    channels: list[ChannelShare]
    events: list[EventTypeCount]


# --------------------------------------------------------------------------- RFM

class RfmMember(BaseModel):
    member_id: int
    recency_days: int
    frequency: int = Field(description="Orders in the period")
    monetary: int = Field(description="Spend in the period, minor units")
    r: int
    f: int
    m: int
    score: str = Field(description="R, F and M scores, e.g. '545'")
    segment: str


class RfmSegment(BaseModel):
    segment: str
    description: str
    members: int
    share: float | None
    revenue: int
    average_recency_days: float | None
    average_frequency: float | None
    average_monetary: float | None


class RfmSummary(BaseModel):
    members_scored: int
    members_listed: int


class RfmReport(ReportBase):
    report: Literal["rfm"] = "rfm"
    summary: RfmSummary
    segments: list[RfmSegment]
    members: list[RfmMember]


# --------------------------------------------------------------------------- CLV

class BgNbdParameters(BaseModel):
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = Field(description="Of the data under these parameters")
    customers: int
    penalizer: float = Field(description="L2 penalty this fit needed (0: none, as published); "
                             "each model is given its own")


class GammaGammaParameters(BaseModel):
    p: float
    q: float
    gamma: float
    log_likelihood: float
    customers: int = Field(description="Members with repeat purchases the model was fitted on")
    penalizer: float = Field(description="L2 penalty this fit needed (0: none, as published)")


UNPREDICTED = ("null where the fitted model gives no finite figure for the member (see the "
               "summary's members_without_prediction and the warnings)")


class ClvMember(BaseModel):
    member_id: int
    frequency: int = Field(description="Repeat purchase days in calibration")
    recency: float = Field(description="First to last purchase, in time units")
    age: float = Field(description="First purchase to calibration end (T), in time units")
    average_repeat_spend: int = Field(description="Minor units; 0 without repeat purchases")
    probability_alive: float | None = Field(description=UNPREDICTED)
    expected_purchases: float | None = Field(
        description="Over the next horizon_days; " + UNPREDICTED)
    expected_average_spend: int | None = Field(description=UNPREDICTED)
    expected_value: int | None = Field(
        description="Expected spend over the horizon, minor units; " + UNPREDICTED)
    holdout_purchases: int | None = Field(
        description="Purchase days after calibration (when the period runs past it)")


class ClvSummary(BaseModel):
    calibration_end: date
    time_unit: str
    horizon_days: int
    customers: int
    repeat_customers: int
    expected_purchases: float = Field(description="Of the members with a prediction")
    expected_value: int = Field(description="Of the members with a prediction, minor units")
    members_without_prediction: int = Field(
        description="Members the fitted models give no finite expected value for (a "
                    "degenerate fit on little data); left out of the expected totals")
    holdout_days: int = Field(description="Days after calibration up to the end")
    holdout_purchases: int | None = Field(
        description="Actual purchase days in the holdout of the members fitted in calibration "
                    "(members first seen after it are left out)")
    holdout_expected_purchases: float | None = Field(
        description="What the model expected over the holdout days")
    members_listed: int


class ClvReport(ReportBase):
    report: Literal["clv"] = "clv"
    summary: ClvSummary
    bgnbd: BgNbdParameters
    gamma_gamma: GammaGammaParameters
    members: list[ClvMember] = Field(description="Highest expected value first")


# --------------------------------------------------------------------------- cohorts

class Cohort(BaseModel):
    cohort: date = Field(description="Join month")
    members: int
    active: list[int] = Field(description="Members buying in months 0, 1, 2, … after joining")
    retention: list[float | None] = Field(description="active / members")


class CohortsSummary(BaseModel):
    cohorts: int
    members: int
    average_month_1_retention: float | None


class CohortsReport(ReportBase):
    report: Literal["cohorts"] = "cohorts"
    summary: CohortsSummary
    cohorts: list[Cohort]


Report = (MembersReport | PointsReport | RewardsReport | BehaviourReport | RfmReport
          | ClvReport | CohortsReport | StoresReport | ProductsReport | CategoryTrendsReport
          | SegmentsReport)

PRIMARY_TABLE: dict[str, str] = {
    "members": "growth", "points": "monthly", "rewards": "by_reward",
    "behaviour": "categories", "rfm": "members", "clv": "members", "cohorts": "cohorts",
    "stores": "stores", "products": "products", "category-trends": "trends",
    "segments": "segments"}
"""The table a CSV export holds unless another is named."""
