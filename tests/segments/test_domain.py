"""Conditions over feature columns, without a database."""

from __future__ import annotations

import numpy as np

from patron.analytics import clv
from patron.segments import domain

ROWS = [
    (1, 5, "north", ("vip",)), (2, None, "north", None), (3, 2, None, ("vip", "new")),
    (4, 5, "north", ("vip",)), (5, 0, "south", ()), (6, 3, "north", ("new",)),
]


def _both(source: str) -> tuple[list[int], list[int]]:
    condition = domain.feature_condition(source)
    columns = domain.read_columns(condition)
    names = ("frequency", "region", "tags")
    rows = [(r[0], *(r[1 + names.index(c)] for c in columns)) for r in ROWS]
    ids = [r[0] for r in ROWS]
    values = [[r[1 + names.index(c)] for r in ROWS] for c in columns]
    return (domain.matching(condition, columns, rows),
            domain.matching_columns(condition, columns, ids, values).tolist())


def test_columns_match_as_rows_do():
    for source, expected in (
            ("member.features.frequency >= 3", [1, 4, 6]),
            ('member.features.region == "north" && member.features.frequency < 4', [2, 6]),
            ('"vip" in member.tags', [1, 3, 4]),
            ('"new" in member.tags || member.features.region == "south"', [3, 5, 6]),
            ("true", [1, 2, 3, 4, 5, 6])):
        by_row, by_column = _both(source)
        assert by_row == by_column == expected, source


def test_no_members_match_nothing():
    condition = domain.feature_condition("member.features.frequency >= 3")
    assert domain.matching_columns(condition, ("frequency",), [], [[]]).tolist() == []


def test_a_model_figure_that_ran_off_to_infinity_reads_as_unknown(monkeypatch):
    """Gamma-Gamma can give an infinite or absurd spend for an odd history: that member's
    expected value is unknown (None), not a number too large for any column."""
    inf, nan = float("inf"), float("nan")
    monkeypatch.setattr(domain.clv, "fit", lambda histories: object())
    monkeypatch.setattr(domain.clv, "predict", lambda model, histories, days: clv.Predictions(
        np.array([0.9, 0.5, nan]), np.array([2.0, 1.0, 1.0]), np.array([12.5, inf, 1e300])))
    figures = domain.model_figures(np.array([3, 1, 2]), np.array([10, 5, 8]),
                                   np.array([100, 50, 80]), np.array([3750, 900, 1800]), 2)
    assert figures.expected_value == [2500, None, None]
    assert figures.churn_probability == [0.1, 0.5, None]
    assert figures.expected_purchases == [2.0, 1.0, 1.0]


def test_purchase_summaries_count_orders_days_and_the_first_days_spend():
    member = np.array([2, 1, 2, 2, 3], dtype=np.int64)
    day = np.array([12, 5, 10, 10, 7], dtype=np.int64)
    paid = np.array([0, 50, 100, 30, 9], dtype=np.int64)
    summaries = domain.purchase_summaries(member, day, paid)
    assert summaries.tolist() == [[1, 1, 50, 5, 5, 1, 50],   # member, orders, spend, first,
                                  [2, 3, 130, 10, 12, 2, 130],  # last, days, first-day spend
                                  [3, 1, 9, 7, 7, 1, 9]]
    empty = np.zeros(0, dtype=np.int64)
    assert domain.purchase_summaries(empty, empty, empty).shape == (0, 7)
