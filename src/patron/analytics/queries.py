"""The reports' SQL, run in DuckDB over a program's snapshot (see ``repository``).

Every function takes a loaded :class:`Warehouse` and returns plain rows; every
timestamp in the snapshot is local wall time, so ``CAST(x AS DATE)`` is the day
the member lived it. Periods are half-open: ``start <= t < end``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from patron.analytics.repository import Warehouse

MEMBER_TABLES = ("orders", "events", "ledger", "spends", "lots", "accounts",
                 "reward_redemptions", "gift_grants", "segment_members")


@dataclass(frozen=True)
class Period:
    start: datetime | None
    end: datetime

    def where(self, column: str) -> str:
        bound = f"{column} < $end"
        return f"{bound} AND {column} >= $start" if self.start else bound

    @property
    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end}


# --------------------------------------------------------------------------- scope

def scope(w: Warehouse, *, region: str | None, join_channel: str | None,
          channel: str | None) -> None:
    """Keep only the members (and their rows) and the sales channel asked for.

    A filter keeps only rows that have the value asked for: a member without a
    region (or an order without a channel) is left out of every filtered report.
    Join dates are taken first, over every order, so a member who joined on the
    web and now buys in store still joined when they did.
    """
    if "members" in w.loaded and "orders" in w.loaded:
        w.execute("CREATE TEMP TABLE joins AS SELECT m.id AS member_id, "
                  "least(m.created_at, min(o.occurred_at)) AS joined_at FROM members m "
                  "LEFT JOIN orders o ON o.member_id = m.id GROUP BY m.id, m.created_at")
        w.loaded.add("joins")
    conditions = []
    if region is not None:
        conditions.append("region = $region")
    if join_channel is not None:
        conditions.append("join_channel = $join_channel")
    if conditions:
        # IS NOT TRUE, not NOT: a member with no region is not of the region asked for
        w.execute(f"DELETE FROM members WHERE ({' AND '.join(conditions)}) IS NOT TRUE",
                  {"region": region, "join_channel": join_channel})
        for table in (*MEMBER_TABLES, "joins"):
            if table in w.loaded:
                w.execute(f"DELETE FROM {table} WHERE member_id NOT IN (SELECT id FROM members)")
    if channel is not None:
        for table in ("orders", "events"):
            if table in w.loaded:
                w.execute(f"DELETE FROM {table} WHERE channel IS DISTINCT FROM $channel",
                          {"channel": channel})
        if "order_lines" in w.loaded:
            w.execute("DELETE FROM order_lines WHERE order_pk NOT IN (SELECT id FROM orders)")


ACTIVITY: dict[str, str] = {
    "orders": "occurred_at", "events": "occurred_at", "ledger": "occurred_at",
    "spends": "occurred_at", "reward_redemptions": "created_at", "gift_grants": "created_at"}
"""What members did, and when: enrolments are left out, since members imported today
join today while their purchases are last year's."""


def last_activity_day(w: Warehouse, among: Collection[str] | None = None) -> date | None:
    """The last day (local) with recorded activity among the tables the report read
    (``among``; by default every table of the snapshot)."""
    found = [f"SELECT max({column}) AS latest FROM {table}" for table, column in ACTIVITY.items()
             if table in w.loaded and (among is None or table in among)]
    if not found:
        return None
    last = w.one(f"SELECT max(latest) AS latest FROM ({' UNION ALL '.join(found)})")["latest"]
    return last.date() if last is not None else None


def _pairs(w: Warehouse, sql: str, params: dict[str, Any]) -> list[tuple[Any, int]]:
    return [(row[0], int(row[1])) for row in w.rows(sql, params)]


# --------------------------------------------------------------------------- members

def member_counts(w: Warehouse, column: str, p: Period) -> list[tuple[str, int]]:
    return _pairs(w, f"SELECT coalesce(m.{column}, 'unknown') AS key, count(*) FROM members m "
                     f"JOIN joins j ON j.member_id = m.id WHERE j.joined_at < $end "
                     "GROUP BY 1 ORDER BY 2 DESC, 1", p.params)


def member_ages(w: Warehouse, p: Period, as_of: date) -> list[tuple[int | None, int]]:
    return _pairs(w, "SELECT CAST(date_part('year', age(CAST($as_of AS TIMESTAMP), "
                     "CAST(m.birthdate AS TIMESTAMP))) AS INTEGER) AS age, count(*) "
                     "FROM members m JOIN joins j ON j.member_id = m.id "
                     "WHERE j.joined_at < $end GROUP BY 1", {**p.params, "as_of": as_of})


def joins_by_month(w: Warehouse, p: Period) -> tuple[int, list[tuple[date, int]]]:
    """Members who joined before the period, and joins per month within it."""
    before = w.one("SELECT count(*) AS n FROM joins WHERE joined_at < $start",
                   p.params)["n"] if p.start else 0
    months = _pairs(w, "SELECT CAST(date_trunc('month', joined_at) AS DATE), count(*) "
                       f"FROM joins WHERE {p.where('joined_at')} GROUP BY 1 ORDER BY 1",
                    p.params)
    return int(before), months


def activity(w: Warehouse, p: Period, as_of: date, lapsed_days: int) -> dict[str, int]:
    """Members by whether, and how many days before ``as_of``, they last bought."""
    row = w.one(
        "WITH last AS (SELECT member_id, date_diff('day', CAST(max(occurred_at) AS DATE), "
        "$as_of) AS days FROM orders WHERE occurred_at < $end GROUP BY 1) "
        "SELECT count(*) FILTER (WHERE l.days <= $lapsed_days) AS active, "
        "count(*) FILTER (WHERE l.days > $lapsed_days) AS lapsed, "
        "count(*) FILTER (WHERE l.days IS NULL) AS never_purchased "
        "FROM joins j LEFT JOIN last l USING (member_id) WHERE j.joined_at < $end",
        {**p.params, "as_of": as_of, "lapsed_days": lapsed_days})
    return {k: int(v or 0) for k, v in row.items()}


def order_totals(w: Warehouse, p: Period) -> dict[str, int]:
    row = w.one(f"SELECT count(*) AS orders, coalesce(sum(total), 0) AS revenue, "
                f"count(DISTINCT member_id) AS purchasers FROM orders "
                f"WHERE {p.where('occurred_at')}", p.params)
    return {k: int(v or 0) for k, v in row.items()}


def spend_deciles(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    """Purchasers in ten equal groups by spend, biggest spenders first."""
    return w.dicts(
        "WITH spend AS (SELECT member_id, sum(total) AS spend FROM orders "
        f"WHERE {p.where('occurred_at')} GROUP BY 1), "
        "ranked AS (SELECT spend, ntile(10) OVER (ORDER BY spend DESC, member_id) AS decile "
        "FROM spend) "
        "SELECT decile, count(*) AS members, sum(spend) AS revenue FROM ranked "
        "GROUP BY 1 ORDER BY 1", p.params)


# --------------------------------------------------------------------------- points

def points_by_month(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    return w.dicts(
        "SELECT CAST(date_trunc('month', occurred_at) AS DATE) AS month, "
        "coalesce(sum(points) FILTER (WHERE kind = 'earn'), 0) AS issued, "
        "coalesce(-sum(points) FILTER (WHERE kind = 'spend'), 0) AS spent, "
        "coalesce(-sum(points) FILTER (WHERE kind = 'expire'), 0) AS expired, "
        "coalesce(-sum(points) FILTER (WHERE kind = 'reverse'), 0) AS reversed, "
        "coalesce(sum(points) FILTER (WHERE kind = 'adjust'), 0) AS adjusted "
        f"FROM ledger WHERE {p.where('occurred_at')} GROUP BY 1 ORDER BY 1", p.params)


def balances(w: Warehouse) -> dict[str, int]:
    row = w.one("SELECT coalesce(sum(available), 0) AS available, "
                "coalesce(sum(pending), 0) AS pending, "
                "count(*) FILTER (WHERE available + pending > 0) AS members FROM accounts")
    return {k: int(v or 0) for k, v in row.items()}


def lot_cohorts(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    """Points earned per month, what of them expired, and whether any are still live."""
    return w.dicts(
        "WITH expired AS (SELECT lot_id, sum(points) AS points FROM lot_expiries GROUP BY 1) "
        "SELECT CAST(date_trunc('month', l.earned_at) AS DATE) AS month, "
        "sum(l.points) AS issued, coalesce(sum(x.points), 0) AS expired, "
        "coalesce(sum(l.remaining) FILTER (WHERE l.state IN ('open', 'pending')), 0) "
        "AS outstanding, bool_and(l.state IN ('closed', 'expired')) AS closed "
        "FROM lots l LEFT JOIN expired x ON x.lot_id = l.id "
        f"WHERE {p.where('l.earned_at')} GROUP BY 1 ORDER BY 1", p.params)


def issuance_by_rule(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    return w.dicts(
        "SELECT coalesce(rule, 'unspecified') AS rule, count(*) AS earns, "
        "count(DISTINCT member_id) AS members, sum(points) AS points FROM ledger "
        f"WHERE kind = 'earn' AND {p.where('occurred_at')} GROUP BY 1 ORDER BY points DESC",
        p.params)


# --------------------------------------------------------------------------- rewards

def create_redemptions(w: Warehouse, *, spends: bool = True) -> None:
    """Every redemption as one row: the catalog's, then (unless ``spends`` is False)
    the other points spends.

    A catalog redemption comes from the redemptions table, as the reward was
    then (type, name, price), with its cancellation if any; it has no order. The
    spend that paid for it is left out of the points spends, which remain for
    points spent outside the catalog: the spend's reason names what they bought
    and its order (if any) where. A table, not a view: the report reads it five
    times, and a view would join the spends to the orders again each time.
    """
    catalog = ("SELECT reward_type, reward_id AS reward, reward_name AS name, "
               "'no order' AS channel, member_id, cost_points AS points, "
               "created_at AS occurred_at, CAST(NULL AS VARCHAR) AS order_id, cancelled_at, "
               "cause FROM reward_redemptions")
    if not spends:
        w.execute(f"CREATE OR REPLACE TEMP TABLE redemptions AS {catalog}")
        return
    w.execute(
        f"CREATE OR REPLACE TEMP TABLE redemptions AS {catalog} "
        "UNION ALL "
        "SELECT 'points_spend', coalesce(s.reason, ''), coalesce(s.reason, ''), "
        "coalesce(o.channel, CASE WHEN s.order_id IS NULL THEN 'no order' ELSE 'unknown' END), "
        "s.member_id, s.points, s.occurred_at, s.order_id, CAST(NULL AS TIMESTAMP), "
        "CAST(NULL AS VARCHAR) "
        "FROM spends s LEFT JOIN orders o ON o.order_id = s.order_id "
        "WHERE NOT EXISTS (SELECT 1 FROM reward_redemptions r WHERE r.entry_id = s.id)")


REDEMPTION_FIGURES = (
    "count(*) AS redemptions, count(DISTINCT member_id) AS members, "
    "coalesce(sum(points), 0) AS points, "
    "count(*) FILTER (WHERE cancelled_at < $end) AS cancelled, "
    "coalesce(sum(points) FILTER (WHERE cancelled_at < $end), 0) AS points_refunded, "
    "count(*) FILTER (WHERE cancelled_at IS NULL OR cancelled_at >= $end) AS net_redemptions, "
    "coalesce(sum(points) FILTER (WHERE cancelled_at IS NULL OR cancelled_at >= $end), 0) "
    "AS net_points")
"""Redemptions made in the period, and of them those cancelled by its end: a
cancellation belongs to the redemption it undoes, so ``net`` is what still stands."""


def redemption_totals(w: Warehouse, p: Period) -> dict[str, int]:
    row = w.one(f"SELECT {REDEMPTION_FIGURES}, "
                "count(*) FILTER (WHERE order_id IS NOT NULL) AS with_order, "
                "count(DISTINCT reward_type) AS reward_types "
                f"FROM redemptions WHERE {p.where('occurred_at')}", p.params)
    return {k: int(v or 0) for k, v in row.items()}


def redemptions_by(w: Warehouse, columns: Sequence[str], p: Period,
                   limit: int | None = None, extra: str = "") -> list[dict[str, Any]]:
    keys = ", ".join(columns)
    return w.dicts(
        f"SELECT {keys}{extra}, {REDEMPTION_FIGURES} FROM redemptions "
        f"WHERE {p.where('occurred_at')} "
        f"GROUP BY {keys} ORDER BY points DESC, redemptions DESC, {keys}"
        + (" LIMIT $limit" if limit else ""), {**p.params, "limit": limit})


def redemptions_by_reward(w: Warehouse, p: Period, limit: int | None) -> list[dict[str, Any]]:
    """Per reward and type; a reward renamed between versions shows its latest name."""
    return redemptions_by(w, ("reward_type", "reward"), p, limit,
                          extra=", arg_max(name, occurred_at) AS name")


def redemptions_by_month(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    return w.dicts(
        "SELECT CAST(date_trunc('month', occurred_at) AS DATE) AS month, "
        f"{REDEMPTION_FIGURES} FROM redemptions WHERE {p.where('occurred_at')} "
        "GROUP BY 1 ORDER BY 1", p.params)


def donations_by_cause(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    return w.dicts(
        f"SELECT coalesce(cause, '') AS cause, {REDEMPTION_FIGURES} FROM redemptions "
        f"WHERE reward_type = 'donation' AND {p.where('occurred_at')} "
        "GROUP BY 1 ORDER BY net_points DESC, cause", p.params)


def gifts_with_purchase(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    """Gifts earn rules gave with purchases in the period, and of them those a return
    cancelled by its end."""
    return w.dicts(
        "SELECT reward_id AS reward, arg_max(reward_name, created_at) AS name, "
        "count(*) AS granted, count(DISTINCT member_id) AS members, "
        "count(*) FILTER (WHERE cancelled_at < $end) AS cancelled, "
        "count(*) FILTER (WHERE cancelled_at IS NULL OR cancelled_at >= $end) AS net "
        f"FROM gift_grants WHERE {p.where('created_at')} "
        "GROUP BY 1 ORDER BY granted DESC, reward", p.params)


# --------------------------------------------------------------------------- behaviour

def purchase_gaps(w: Warehouse, p: Period) -> list[tuple[int, int]]:
    """Days between a member's consecutive purchase days, as a histogram."""
    return _pairs(w,
                  "WITH days AS (SELECT DISTINCT member_id, CAST(occurred_at AS DATE) AS d "
                  f"FROM orders WHERE {p.where('occurred_at')}), "
                  "gaps AS (SELECT date_diff('day', lag(d) OVER (PARTITION BY member_id "
                  "ORDER BY d), d) AS gap FROM days) "
                  "SELECT gap, count(*) FROM gaps WHERE gap IS NOT NULL GROUP BY 1 ORDER BY 1",
                  p.params)


def orders_per_member(w: Warehouse, p: Period) -> list[tuple[int, int]]:
    return _pairs(w, "SELECT n, count(*) FROM (SELECT member_id, count(*) AS n FROM orders "
                     f"WHERE {p.where('occurred_at')} GROUP BY 1) GROUP BY 1 ORDER BY 1",
                  p.params)


def categories(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    return w.dicts(
        "SELECT coalesce(l.category, 'uncategorised') AS category, count(*) AS lines, "
        "sum(l.quantity) AS quantity, sum(l.amount) AS revenue, "
        "count(DISTINCT o.member_id) AS members FROM order_lines l "
        f"JOIN orders o ON o.id = l.order_pk WHERE {p.where('o.occurred_at')} "
        "GROUP BY 1 ORDER BY revenue DESC, 1", p.params)


def channels(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    return w.dicts(
        "SELECT coalesce(channel, 'unknown') AS channel, count(*) AS orders, "
        "sum(total) AS revenue, count(DISTINCT member_id) AS members FROM orders "
        f"WHERE {p.where('occurred_at')} GROUP BY 1 ORDER BY orders DESC, 1", p.params)


def event_types(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    """Events by type: purchases are counted from their orders (one each)."""
    return w.dicts(
        "WITH every AS (SELECT member_id, type, occurred_at FROM events UNION ALL "
        "SELECT member_id, 'purchase', occurred_at FROM orders) "
        "SELECT type, count(*) AS events, count(DISTINCT member_id) AS members FROM every "
        f"WHERE {p.where('occurred_at')} GROUP BY 1 ORDER BY events DESC, 1", p.params)


# --------------------------------------------------------------------------- RFM, CLV

def rfm_inputs(w: Warehouse, p: Period, as_of: date) -> dict[str, np.ndarray]:
    """Per purchaser, as columns: days since the last purchase (``recency_days``),
    orders (``frequency``) and spend in minor units (``monetary``), by ``member_id``."""
    return w.arrays(
        "SELECT member_id, date_diff('day', CAST(max(occurred_at) AS DATE), $as_of) "
        "AS recency_days, count(*) AS frequency, CAST(sum(total) AS BIGINT) AS monetary "
        f"FROM orders WHERE {p.where('occurred_at')} "
        "GROUP BY 1 ORDER BY 1", {**p.params, "as_of": as_of})


def purchase_histories(w: Warehouse, p: Period, calibration_end: date) -> list[tuple[Any, ...]]:
    """Per member, purchases by day up to the calibration's last day (inclusive).

    ``(member, repeat days, first→last days, first→calibration end days,
    average spend of repeat days in minor units)``: the BG/NBD and Gamma-Gamma inputs.
    """
    return w.rows(
        "WITH days AS (SELECT member_id, CAST(occurred_at AS DATE) AS d, sum(total) AS spend "
        f"FROM orders WHERE {p.where('occurred_at')} AND CAST(occurred_at AS DATE) <= $cal "
        "GROUP BY 1, 2), "
        "firsts AS (SELECT member_id, min(d) AS first_day, max(d) AS last_day, "
        "count(*) - 1 AS frequency FROM days GROUP BY 1) "
        "SELECT f.member_id, f.frequency, date_diff('day', f.first_day, f.last_day), "
        "date_diff('day', f.first_day, $cal), "
        "coalesce(avg(d.spend) FILTER (WHERE d.d > f.first_day), 0) "
        "FROM firsts f JOIN days d USING (member_id) "
        "GROUP BY f.member_id, f.frequency, f.first_day, f.last_day ORDER BY f.member_id",
        {**p.params, "cal": calibration_end})


def holdout_purchases(w: Warehouse, p: Period, calibration_end: date) -> dict[int, int]:
    """Purchase days per member after calibration, up to the period's end, of the
    members who bought in calibration: the models know only them, so a member first
    seen later is in neither side of the comparison."""
    return dict(_pairs(w, "SELECT member_id, count(DISTINCT CAST(occurred_at AS DATE)) "
                          f"FROM orders WHERE {p.where('occurred_at')} "
                          "AND CAST(occurred_at AS DATE) > $cal AND member_id IN ("
                          f"SELECT member_id FROM orders WHERE {p.where('occurred_at')} "
                          "AND CAST(occurred_at AS DATE) <= $cal) GROUP BY 1",
                       {**p.params, "cal": calibration_end}))


# --------------------------------------------------------------------------- cohorts

def cohort_sizes(w: Warehouse, p: Period) -> list[tuple[date, int]]:
    return _pairs(w, "SELECT CAST(date_trunc('month', joined_at) AS DATE), count(*) "
                     f"FROM joins WHERE {p.where('joined_at')} GROUP BY 1 ORDER BY 1", p.params)


def cohort_activity(w: Warehouse, p: Period) -> list[tuple[date, int, int]]:
    """``(cohort month, months since join, members who bought that month)``."""
    rows = w.rows(
        "WITH j AS (SELECT member_id, CAST(date_trunc('month', joined_at) AS DATE) AS cohort "
        f"FROM joins WHERE {p.where('joined_at')}) "
        "SELECT j.cohort, date_diff('month', j.cohort, "
        "CAST(date_trunc('month', o.occurred_at) AS DATE)) AS k, count(DISTINCT o.member_id) "
        "FROM orders o JOIN j USING (member_id) WHERE o.occurred_at < $end "
        "GROUP BY 1, 2 ORDER BY 1, 2", p.params)
    return [(cohort, int(k), int(n)) for cohort, k, n in rows]


# --------------------------------------------------------------------------- sales

LINE_FIGURES = ("coalesce(sum(l.amount), 0) AS revenue, coalesce(sum(l.quantity), 0) AS units, "
                "count(DISTINCT l.order_pk) AS orders, count(DISTINCT o.member_id) AS members, "
                "coalesce(sum(l.discount), 0) AS discount")
"""What lines add up to: paid, units, orders and members, and the lines' discounts."""


def by_store(w: Warehouse, p: Period) -> list[dict[str, Any]]:
    """Per store: an order's discount is its own plus its lines'; units are its lines'."""
    return w.dicts(
        "WITH lines AS (SELECT order_pk, sum(quantity) AS units, "
        "coalesce(sum(discount), 0) AS discount FROM order_lines GROUP BY 1) "
        "SELECT coalesce(o.store_id, 'unknown') AS store_id, count(*) AS orders, "
        "count(DISTINCT o.member_id) AS members, coalesce(sum(o.total), 0) AS revenue, "
        "coalesce(sum(l.units), 0) AS units, "
        "coalesce(sum(coalesce(o.discount, 0) + coalesce(l.discount, 0)), 0) AS discount, "
        "coalesce(sum(o.coupon_value), 0) AS coupon_value "
        "FROM orders o LEFT JOIN lines l ON l.order_pk = o.id "
        f"WHERE {p.where('o.occurred_at')} GROUP BY 1 ORDER BY revenue DESC, 1", p.params)


def by_product(w: Warehouse, p: Period, level: str) -> list[dict[str, Any]]:
    """Per value of a product level (a column name the query schema allows)."""
    return w.dicts(
        f"SELECT coalesce(nullif(l.{level}, ''), 'unknown') AS key, {LINE_FIGURES} "
        f"FROM order_lines l JOIN orders o ON o.id = l.order_pk "
        f"WHERE {p.where('o.occurred_at')} GROUP BY 1 ORDER BY revenue DESC, 1", p.params)


def sales_totals(w: Warehouse, p: Period) -> dict[str, int]:
    """Lines' totals over the period, each order and member once."""
    row = w.one(f"SELECT {LINE_FIGURES} FROM order_lines l JOIN orders o ON o.id = l.order_pk "
                f"WHERE {p.where('o.occurred_at')}", p.params)
    return {k: int(v or 0) for k, v in row.items()}


def product_trends(w: Warehouse, p: Period, level: str) -> list[dict[str, Any]]:
    """Per local month and value of a product level: the month's lines' figures."""
    return w.dicts(
        "SELECT CAST(date_trunc('month', o.occurred_at) AS DATE) AS month, "
        f"coalesce(nullif(l.{level}, ''), 'unknown') AS key, {LINE_FIGURES} "
        f"FROM order_lines l JOIN orders o ON o.id = l.order_pk "
        f"WHERE {p.where('o.occurred_at')} GROUP BY 1, 2 ORDER BY 1, revenue DESC, 2",
        p.params)


def by_segment(w: Warehouse, p: Period, as_of: date, lapsed_days: int) -> list[dict[str, Any]]:
    """Per active segment, its current members' figures; a segment without any, zeros."""
    return w.dicts(
        "WITH bought AS (SELECT member_id, count(*) FILTER (WHERE "
        f"{p.where('occurred_at')}) AS orders, coalesce(sum(total) FILTER (WHERE "
        f"{p.where('occurred_at')}), 0) AS revenue, "
        "date_diff('day', CAST(max(occurred_at) AS DATE), $as_of) AS days "
        "FROM orders WHERE occurred_at < $end GROUP BY 1), "
        "held AS (SELECT member_id, sum(available + pending) AS points FROM accounts "
        "GROUP BY 1) "
        "SELECT s.key AS segment, s.name, s.kind, count(m.member_id) AS members, "
        "count(*) FILTER (WHERE b.days <= $lapsed_days) AS active_members, "
        "count(*) FILTER (WHERE b.orders > 0) AS purchasers, "
        "coalesce(sum(b.orders), 0) AS orders, coalesce(sum(b.revenue), 0) AS revenue, "
        "coalesce(sum(h.points), 0) AS points_balance "
        "FROM segments s LEFT JOIN segment_members m ON m.segment_id = s.id "
        "LEFT JOIN bought b ON b.member_id = m.member_id "
        "LEFT JOIN held h ON h.member_id = m.member_id "
        "WHERE s.active GROUP BY s.key, s.name, s.kind ORDER BY s.key",
        {**p.params, "as_of": as_of, "lapsed_days": lapsed_days})


def members_in_segments(w: Warehouse) -> int:
    return int(w.one("SELECT count(DISTINCT m.member_id) AS n FROM segment_members m "
                     "JOIN segments s ON s.id = m.segment_id WHERE s.active")["n"] or 0)
