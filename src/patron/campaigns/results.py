"""Campaign results: what a campaign reached and cost, and what it changed.

Both groups are measured over the campaign window plus ``attribution_days``
(``[starts, ends + attribution_days)``). Spend is an order's total less the lines
returned (any time) pro rata to quantity; every assigned member counts, so spend
per member includes the members who bought nothing. The lift is Welch's difference
in means treatment − holdout (see :mod:`patron.campaigns.stats`); incremental
revenue is that lift × treatment members; cost is the campaign's earn-rule points at
``settings.point_value_minor`` plus their cashback plus the discount of the
campaign's coupons used; ROI = (incremental revenue − cost) / cost.

A campaign without holdout members cannot be measured causally: its results carry
a ``before_after`` block instead — treatment spend per member in the period against
the same length of time just before it — labelled ``causal: false``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Connection

from patron.campaigns import results_repository as repository
from patron.campaigns.results_schemas import (
    BeforeAfter,
    CampaignResults,
    GroupResult,
    LiftResult,
    RewardCount,
    Status,
)
from patron.campaigns.stats import Lift, Moments, welch_lift
from patron.campaigns.domain import campaign_of
from patron.program.compiled import instant
from patron.program.document import Campaign, ProgramDocument
from patron.program.versions import get_version

NOT_CAUSAL = ("not causal: the campaign has no holdout, so this compares treatment members "
              "with themselves before the campaign; seasonality and trends are not removed")


UNMEASURED = ("spend_lift", "orders_lift", "incremental_revenue", "incremental_revenue_low",
              "incremental_revenue_high", "roi", "before_after")


def _minor(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _status(now: datetime, start: datetime, end: datetime, measured_until: datetime) -> Status:
    if now < start:
        return "upcoming"
    if now < end:
        return "running"
    return "attributing" if now < measured_until else "ended"


def _group(row: Any, new: int, redeemed: int) -> GroupResult:
    members = int(row.members) if row is not None else 0
    revenue = float(row.spend) if row is not None else 0.0
    orders = int(round(float(row.orders))) if row is not None else 0
    return GroupResult(
        members=members, activated=int(row.activated) if row is not None else 0,
        new_members=new, orders=orders, revenue=_minor(revenue),
        spend_per_member=_minor(revenue / members) if members else 0,
        orders_per_member=round(orders / members, 4) if members else 0.0,
        points_redeemed=redeemed)


def _moments(row: Any, total: str, squares: str) -> Moments:
    if row is None:
        return Moments(0, 0.0, 0.0)
    return Moments(int(row.members), float(getattr(row, total)), float(getattr(row, squares)))


def _lift(lift: Lift) -> LiftResult:
    def r(value: float | None, places: int) -> float | None:
        return None if value is None else round(value, places)

    return LiftResult(
        treatment_mean=round(lift.treatment_mean, 4), holdout_mean=round(lift.holdout_mean, 4),
        difference=round(lift.difference, 4), low=r(lift.low, 4), high=r(lift.high, 4),
        relative=r(lift.relative, 6), relative_low=r(lift.relative_low, 6),
        relative_high=r(lift.relative_high, 6),
        degrees_of_freedom=r(lift.degrees_of_freedom, 2), note=lift.reason)


def _before_after(conn: Connection, program_id: int, campaign: Campaign, start: datetime,
                  end: datetime, during: Any) -> BeforeAfter:
    before_start = start - (end - start)
    before = repository.purchase_moments(conn, program_id, campaign.id, before_start, start,
                                         group="treatment").get("treatment")
    members = int(during.members) if during is not None else 0
    after = _minor(float(during.spend) / members) if members else 0
    prior = _minor(float(before.spend) / members) if members and before is not None else 0
    return BeforeAfter(note=NOT_CAUSAL, before_start=before_start,
                       before_spend_per_member=prior, after_spend_per_member=after,
                       change=after - prior,
                       relative_change=round((after - prior) / prior, 6) if prior else None)


def campaign_results(conn: Connection, program: Any, campaign_id: str, now: datetime, *,
                     version: int | None = None,
                     attribution_days: int | None = None) -> CampaignResults:
    """Results of one campaign of the current (or the given) program version."""
    published = get_version(conn, program, version)
    document = published.document
    campaign = campaign_of(document, campaign_id, published.version)
    zone = document.settings.zone
    start = instant(campaign.starts, zone, end=False)
    end = instant(campaign.ends, zone, end=True)
    days = campaign.attribution_days if attribution_days is None else attribution_days
    until = end + timedelta(days=days)
    figures = _figures(conn, program.id, campaign, start, end, until, document)
    status = _status(now, start, end, until)
    if status == "upcoming":  # groups may be assigned already, but nothing is measured
        figures |= dict.fromkeys(UNMEASURED)
    return CampaignResults(
        campaign_id=campaign.id, name=campaign.name, program_version=published.version,
        status=status, starts=start, ends=end,
        attribution_days=days, measured_until=until, holdout_share=float(campaign.holdout),
        currency=document.settings.currency, **figures)


def _figures(conn: Connection, program_id: int, campaign: Campaign, start: datetime,
             end: datetime, until: datetime, document: ProgramDocument) -> dict[str, Any]:
    moments = repository.purchase_moments(conn, program_id, campaign.id, start, until)
    new = repository.new_members(conn, program_id, campaign.id, start, end)
    redeemed = repository.points_redeemed(conn, program_id, campaign.id, start, until)
    rule_ids = {rule.id for rule in campaign.earn_rules}
    points, cashback = repository.rule_payouts(conn, program_id, rule_ids, start, until)
    coupons = repository.campaign_coupons(conn, program_id, campaign.id,
                                          {c.type for c in campaign.coupons}, start, until)
    rewards = repository.top_rewards(conn, program_id, campaign.id, start, until)
    treated, held = moments.get("treatment"), moments.get("holdout")
    cost = _minor(float(points * document.settings.point_value_minor)) + cashback \
        + int(coupons.value)
    figures: dict[str, Any] = dict(
        treatment=_group(treated, new.get("treatment", 0), redeemed.get("treatment", 0)),
        points_issued=points, cashback=cashback, coupons_issued=int(coupons.issued),
        coupons_used=int(coupons.used), coupon_value_used=int(coupons.value), cost=cost,
        top_rewards=[RewardCount(reward_id=r.reward_id, name=r.name,
                                 redemptions=int(r.redemptions), points=int(r.points))
                     for r in rewards])
    figures["reach"] = figures["treatment"].members
    if held is None or int(held.members) == 0:
        return figures | dict(
            holdout=None, spend_lift=None, orders_lift=None, incremental_revenue=None,
            incremental_revenue_low=None, incremental_revenue_high=None, roi=None,
            before_after=_before_after(conn, program_id, campaign, start, until, treated))
    return figures | _measured(treated, held, new, redeemed, cost)


def _measured(treated: Any, held: Any, new: dict[str, int], redeemed: dict[str, int],
              cost: int) -> dict[str, Any]:
    spend = welch_lift(_moments(treated, "spend", "spend_squares"),
                       _moments(held, "spend", "spend_squares"))
    orders = welch_lift(_moments(treated, "orders", "order_squares"),
                        _moments(held, "orders", "order_squares"))
    reach = int(treated.members) if treated is not None else 0

    def scaled(value: float | None) -> int | None:
        return None if value is None else _minor(value * reach)

    incremental = _minor(spend.difference * reach)
    return dict(
        holdout=_group(held, new.get("holdout", 0), redeemed.get("holdout", 0)),
        spend_lift=_lift(spend), orders_lift=_lift(orders), incremental_revenue=incremental,
        incremental_revenue_low=scaled(spend.low), incremental_revenue_high=scaled(spend.high),
        roi=round((incremental - cost) / cost, 6) if cost else None, before_after=None)
