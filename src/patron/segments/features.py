"""The features job: every member's features materialised in ``member_features``.

One refresh brings each order's member, day and net amount into Python as
integer arrays (``feature_store``), sums them per buyer, scores RFM and fits the
lifetime models there, and lets the database write every feature row in one
statement (dates, recency, age bands,
favourites, balances, tiers, referrals and tags are computed by it). The job
then applies the program's rule tags and refreshes its dynamic segments, which
read those rows.

Definitions: ``frequency`` counts orders and ``monetary`` sums what was paid for
them net of what was returned (minor units; a returned line counts pro rata to the
quantity returned, and an order never below zero); ``recency_days`` is days from the last purchase to now
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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
from sqlalchemy import Connection

from patron.program.service import Program
from patron.segments import domain, feature_store

EPOCH = date(1970, 1, 1)
Advance = Callable[[int, int], None]


@dataclass(frozen=True)
class FeaturesRefreshed:
    members: int
    computed_at: datetime


def refresh_features(conn: Connection, program: Program, now: datetime,
                     advance: Advance | None = None) -> FeaturesRefreshed:
    """Recompute every eligible member's features (``advance(n, total)`` as steps end:
    purchases summarised, scores computed, rows written)."""
    today = now.astimezone(timezone.utc).date()
    with feature_store.room_to_work(conn):
        feature_store.stage_favourites(conn, program.id, now)
        bought = domain.purchase_summaries(*feature_store.order_entries(conn, program.id, now))
        if advance is not None:
            advance(0, len(bought))
        feature_store.stage_scores(conn, scores(bought, (today - EPOCH).days,
                                                program.settings.minor_exponent))
        written = feature_store.write_features(conn, program.id, now, today)
    if advance is not None:
        advance(written, written)
    return FeaturesRefreshed(written, now)


def scores(bought: np.ndarray, today: int, minor_exponent: int) -> list[Sequence[Any]]:
    """The buyers' columns of ``feature_store.SCORE_COLUMNS``, from their staged purchase
    summaries (rows of ``domain.purchase_summaries``) and today's epoch day."""
    ids, orders, spend, first, last, days, first_spend = bought.T
    repeats = days - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat_spend = np.where(repeats > 0, (spend - first_spend) / np.maximum(repeats, 1),
                                0.0)
    r, f, m, named = domain.buyer_rfm(ids, today - last, orders, spend)
    models = domain.model_figures(repeats, last - first, today - first, repeat_spend,
                                  minor_exponent)
    return [ids.tolist(), orders.tolist(), spend.tolist(), last.tolist(), r, f, m, named, models.churn_probability,
            models.expected_purchases, models.expected_value]
