"""The features job: every member's features materialised in ``member_features``.

One refresh reads the program's facts in a handful of set-based queries
(purchases by member and day, favourite category and channel, balance, expiring
points, tier, referrals, tags), scores RFM and fits the lifetime models in
memory, replaces the program's feature rows in bulk, then applies the program's
rule tags and refreshes its dynamic segments, which read those rows.

Definitions: ``frequency`` counts orders and ``monetary`` sums what was paid for
them (minor units); ``recency_days`` is days from the last purchase to now
(``days_since_last_purchase`` too, kept under both names) and is None without a
purchase; ``points_balance`` is spendable points (pending points excluded);
``expiring_points`` the available points of lots expiring in the next 30 days;
``tier`` the tier now (a manual tier while it lasts); ``favourite_category`` the
category of most revenue, ``favourite_channel`` the channel of most orders.
Model figures (churn probability, expected purchases and value over 90 days)
are None for members without a purchase, or when the program has too little
history to fit the models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
from sqlalchemy import Connection

from patron.program.service import Program
from patron.segments import domain, repository

EPOCH = date(1970, 1, 1)
Advance = Callable[[int, int], None]


@dataclass(frozen=True)
class FeaturesRefreshed:
    members: int
    computed_at: datetime


def refresh_features(conn: Connection, program: Program, now: datetime,
                     advance: Advance | None = None) -> FeaturesRefreshed:
    """Recompute every eligible member's features (``advance(n, total)`` as rows are
    written)."""
    rows = compute_rows(conn, program, now)
    repository.replace_features(conn, program.id, rows, advance)
    return FeaturesRefreshed(len(rows), now)


def compute_rows(conn: Connection, program: Program, now: datetime) -> list[tuple[Any, ...]]:
    facts = repository.member_facts(conn, program.id, now)
    ids = [int(f[0]) for f in facts]
    position = {member_id: i for i, member_id in enumerate(ids)}
    today = now.astimezone(timezone.utc).date()
    bought = _purchases(repository.purchase_summary(conn, program.id, now), position,
                        (today - EPOCH).days)
    recency: list[int | None] = [None if d < 0 else int(d) for d in bought["recency"].tolist()]
    r, f, m, named = domain.rfm_columns(ids, recency, bought["orders"].tolist(),
                                        bought["spend"].tolist())
    models = domain.model_figures(bought["repeats"], bought["span"], bought["age"],
                                  bought["repeat_spend"], program.settings.minor_exponent)
    category = dict(repository.favourite_categories(conn, program.id, now))
    channel = dict(repository.favourite_channels(conn, program.id, now))
    tags = repository.tags_by_member(conn, program.id)
    last_days = bought["last"].tolist()
    orders, spend = bought["orders"].tolist(), bought["spend"].tolist()
    joined = [fact[1].date() for fact in facts]
    rows = []
    for i, fact in enumerate(facts):
        member_id = ids[i]
        last = EPOCH + timedelta(days=last_days[i]) if recency[i] is not None else None
        # in the order of repository.FEATURE_COLUMNS
        rows.append((member_id, program.id, now, joined[i], last, recency[i], recency[i],
                     orders[i], spend[i], r[i], f[i], m[i], named[i],
                     models.churn_probability[i], models.expected_purchases[i],
                     models.expected_value[i], fact[7], domain.age_band(fact[2], today),
                     fact[3], fact[4], category.get(member_id), channel.get(member_id),
                     int(fact[5]), int(fact[6]), int(fact[8]), tags.get(member_id, [])))
    return rows


def _purchases(summary: list[Any], position: dict[int, int], today: int
               ) -> dict[str, np.ndarray]:
    """Purchase columns aligned with the members (zeros, and -1 days, for non-buyers)."""
    n = len(position)
    out = {name: np.zeros(n, dtype=np.int64) for name in
           ("orders", "spend", "repeats", "span", "last")}
    out["recency"] = np.full(n, -1, dtype=np.int64)
    out["age"] = np.full(n, -1, dtype=np.int64)
    out["repeat_spend"] = np.zeros(n, dtype=float)
    for member_id, orders, spend, first, last, days, first_spend in summary:
        i = position.get(int(member_id))
        if i is None:
            continue
        repeats = int(days) - 1
        out["orders"][i], out["spend"][i] = int(orders), int(spend)
        out["repeats"][i], out["span"][i] = repeats, int(last) - int(first)
        out["last"][i], out["recency"][i] = int(last), today - int(last)
        out["age"][i] = today - int(first)
        if repeats > 0:
            out["repeat_spend"][i] = (int(spend) - int(first_spend)) / repeats
    return out
