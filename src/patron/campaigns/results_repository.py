"""Campaign results storage reads: one set-based query per figure family.

Every query groups by the member's campaign group (``treatment``/``holdout``), so a
campaign of a million members costs the same few statements as one of ten.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Float, and_, case, cast, exists, func, or_, select
from sqlalchemy.orm import aliased

from patron.campaigns.tables import campaign_members
from patron.coupons.tables import coupon_redemptions, coupons
from patron.earning.tables import awards, order_returns
from patron.events.tables import order_lines, orders
from patron.ledger.tables import ledger_entries
from patron.members.tables import members
from patron.rewards.tables import redemptions
from patron.wallet.tables import cashback_awards

cm = campaign_members


def _assigned(program_id: int, campaign_id: str) -> Any:
    """The campaign's assigned members, but not those merged into another: a merge hands
    the assignment to the survivor (or leaves it behind when the survivor had its own),
    and the merged record has no purchases of its own left to count."""
    merged = select(members.c.id).where(members.c.program_id == program_id,
                                        members.c.merged_into.is_not(None))
    return and_(cm.c.program_id == program_id, cm.c.campaign_id == campaign_id,
                cm.c.member_id.not_in(merged))


def _returned_by_order() -> Any:
    """Value returned per order: each returned line's amount pro rata to quantity."""
    value = cast(order_lines.c.amount, Float) * order_returns.c.quantity / order_lines.c.quantity
    return (select(order_returns.c.order_pk, func.sum(value).label("returned"))
            .join(order_lines, and_(order_lines.c.order_pk == order_returns.c.order_pk,
                                    order_lines.c.line_no == order_returns.c.line_index))
            .group_by(order_returns.c.order_pk).subquery())


def purchase_moments(conn: Connection, program_id: int, campaign_id: str, start: datetime,
                     end: datetime, group: str | None = None) -> dict[str, Any]:
    """Per group: members, activated (≥1 order), orders, revenue net of returns, and the
    sum and sum of squares of spend and of orders per member (zero spenders count)."""
    returned = _returned_by_order()
    net = cast(orders.c.total, Float) - func.coalesce(returned.c.returned, 0.0)
    per_member = (
        select(orders.c.member_id, func.sum(net).label("spend"),
               cast(func.count(), Float).label("orders"))
        .outerjoin(returned, returned.c.order_pk == orders.c.id)
        .where(orders.c.program_id == program_id, orders.c.occurred_at >= start,
               orders.c.occurred_at < end)
        .group_by(orders.c.member_id).subquery())
    spend = func.coalesce(per_member.c.spend, 0.0)
    count = func.coalesce(per_member.c.orders, 0.0)
    query = (select(cm.c.group, func.count().label("members"),
                    func.count(per_member.c.member_id).label("activated"),
                    func.coalesce(func.sum(count), 0.0).label("orders"),
                    func.coalesce(func.sum(spend), 0.0).label("spend"),
                    func.coalesce(func.sum(spend * spend), 0.0).label("spend_squares"),
                    func.coalesce(func.sum(count * count), 0.0).label("order_squares"))
             .select_from(cm)
             .outerjoin(per_member, per_member.c.member_id == cm.c.member_id)
             .where(_assigned(program_id, campaign_id)).group_by(cm.c.group))
    if group is not None:
        query = query.where(cm.c.group == group)
    return {row.group: row for row in conn.execute(query)}


def new_members(conn: Connection, program_id: int, campaign_id: str, start: datetime,
                end: datetime) -> dict[str, int]:
    """Per group: assigned members who enrolled inside [start, end)."""
    return {g: int(n) for g, n in conn.execute(
        select(cm.c.group, func.count()).join(members, members.c.id == cm.c.member_id)
        .where(_assigned(program_id, campaign_id), members.c.created_at >= start,
               members.c.created_at < end).group_by(cm.c.group))}


def points_redeemed(conn: Connection, program_id: int, campaign_id: str, start: datetime,
                    end: datetime) -> dict[str, int]:
    """Per group: points members spent (ledger ``spend`` entries) inside [start, end)."""
    e = ledger_entries
    return {g: int(-(n or 0)) for g, n in conn.execute(
        select(cm.c.group, func.sum(e.c.points))
        .join(e, and_(e.c.member_id == cm.c.member_id, e.c.program_id == cm.c.program_id))
        .where(_assigned(program_id, campaign_id), e.c.kind == "spend",
               e.c.occurred_at >= start, e.c.occurred_at < end).group_by(cm.c.group))}


def rule_payouts(conn: Connection, program_id: int, rule_ids: Collection[str],
                 start: datetime, end: datetime) -> tuple[int, int]:
    """Points awarded and cashback paid by the campaign's earn rules inside [start, end)."""
    if not rule_ids:
        return 0, 0
    ids = sorted(rule_ids)
    points = conn.execute(select(func.coalesce(func.sum(awards.c.points), 0)).where(
        awards.c.program_id == program_id, awards.c.rule_id.in_(ids),
        awards.c.occurred_at >= start, awards.c.occurred_at < end)).scalar()
    cashback = conn.execute(
        select(func.coalesce(func.sum(cashback_awards.c.amount), 0))
        .join(orders, orders.c.event_id == cashback_awards.c.event_id)
        .where(cashback_awards.c.program_id == program_id, cashback_awards.c.rule_id.in_(ids),
               orders.c.occurred_at >= start, orders.c.occurred_at < end)).scalar()
    return int(points), int(cashback)


def campaign_coupons(conn: Connection, program_id: int, campaign_id: str,
                     types: Collection[str], start: datetime, end: datetime) -> Any:
    """Coupons issued to treatment members by the campaign (``source`` naming it, or of
    its coupon types issued inside [start, end)): issued, used, and the discount the
    uses that stand gave."""
    released = aliased(coupon_redemptions)
    standing = and_(coupon_redemptions.c.kind == "redeemed", ~exists().where(
        released.c.redemption_id == coupon_redemptions.c.id))
    ours = or_(coupons.c.source == f"campaign:{campaign_id}",
               and_(coupons.c.coupon_type.in_(sorted(types)), coupons.c.issued_at >= start,
                    coupons.c.issued_at < end))
    value = (select(coupon_redemptions.c.coupon_id,
                    func.sum(coupon_redemptions.c.discount).label("discount"))
             .where(standing).group_by(coupon_redemptions.c.coupon_id).subquery())
    return conn.execute(
        select(func.count().label("issued"),
               func.coalesce(func.sum(case((coupons.c.uses > 0, 1), else_=0)), 0).label("used"),
               func.coalesce(func.sum(value.c.discount), 0).label("value"))
        .select_from(coupons)
        .join(cm, and_(cm.c.member_id == coupons.c.member_id, cm.c.group == "treatment"))
        .outerjoin(value, value.c.coupon_id == coupons.c.id)
        .where(coupons.c.program_id == program_id, _assigned(program_id, campaign_id), ours)
    ).first()


def top_rewards(conn: Connection, program_id: int, campaign_id: str, start: datetime,
                end: datetime, limit: int = 5) -> list[Any]:
    """Rewards treatment members redeemed most inside [start, end) (cancelled ones not)."""
    r = redemptions
    return list(conn.execute(
        select(r.c.reward_id, func.max(r.c.reward_name).label("name"),
               func.count().label("redemptions"), func.sum(r.c.cost_points).label("points"))
        .join(cm, and_(cm.c.member_id == r.c.member_id, cm.c.group == "treatment"))
        .where(r.c.program_id == program_id, _assigned(program_id, campaign_id),
               r.c.cancelled_at.is_(None), r.c.created_at >= start, r.c.created_at < end)
        .group_by(r.c.reward_id).order_by(func.count().desc(), r.c.reward_id).limit(limit)))
