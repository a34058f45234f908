"""Conditions over feature columns, without a database."""

from __future__ import annotations

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
