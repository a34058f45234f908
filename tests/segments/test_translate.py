"""Conditions translated to SQL select the same members as Python's evaluation of the
same conditions, on the same feature rows (missing values included), on SQLite and
PostgreSQL; conditions the translation does not cover are still evaluated."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from patron.segments import domain, repository, service, translate
from patron.segments.features import refresh_features
from patron.segments.schemas import SegmentCreate
from patron.segments.tables import member_features
from tests.flows.test_ingest import BASE, Shop

ROWS = [  # frequency, monetary, r_score, churn_probability, region, tier, tags
    (3, 25_000, 5, 0.25, "north", "gold", ["vip"]),
    (0, 0, None, None, None, None, []),
    (1, 900, 2, 0.75, "south", None, ["new", "vip"]),
    (5, 40_000, 4, 0.5, "north", "silver", []),
    (2, 20_000, 1, 0.0, "", "gold", ["new"]),
    (0, 0, None, None, "east", None, ["vip"]),
]
TRANSLATED = [
    "member.features.frequency >= 3",
    "member.features.monetary >= 20000 && member.features.r_score >= 4",
    "member.features.r_score == 0",
    "member.features.r_score < 3 || member.features.region == \"north\"",
    "!(member.features.frequency > 1) && member.features.region != \"\"",
    "member.features.region == \"\"",
    "member.features.tier == \"\" && member.features.churn_probability < 0.6",
    "member.features.churn_probability == 0.0",
    "member.features.churn_probability > 0",
    "member.features.region in [\"north\", \"east\"]",
    "member.features.r_score in [0, 4]",
    "member.features.tier in []",
    "\"vip\" in member.tags && !(\"new\" in member.tags)",
    "\"new\" in member.tags || member.features.frequency == -1",
    "member.features.frequency == member.features.r_score",
    "true",
    "false || (member.features.monetary > 1000 && (member.features.tier == \"gold\"))",
]
NOT_TRANSLATED = [
    "size(member.tags) >= 2",
    "member.features.tier < \"h\"",
    "member.features.frequency + 1 > 3",
    "member.features.region.startsWith(\"n\")",
    "member.features.joined_on != \"\"",
]


@pytest.fixture
def shop(database, clock):
    shop = Shop(database, clock, [BASE])
    ids = [shop.member() for _ in ROWS]
    database.transact(lambda conn: refresh_features(conn, shop.program, clock.now()))
    for member, (freq, money, r, churn, region, tier, tags) in zip(ids, ROWS):
        database.transact(lambda conn, m=member, v=dict(
            frequency=freq, monetary=money, r_score=r, churn_probability=churn, region=region,
            tier=tier, tags=tags): conn.execute(update(member_features).where(
                member_features.c.member_id == m).values(**v)))
    shop.ids = ids
    return shop


def _both(shop, source):
    def run(conn):
        condition = domain.feature_condition(source)
        columns = domain.read_columns(condition)
        ids, values = repository.feature_columns(conn, shop.program.id, columns)
        in_python = domain.matching_columns(condition, columns, ids, values).tolist()
        where = translate.sql_condition(conn, source)
        in_sql = None if where is None else repository.ids_where(
            conn, shop.program.id, where).tolist()
        return in_python, in_sql
    return shop.db.read(run)


def test_translated_conditions_select_what_python_selects(shop):
    chosen = set()
    for source in TRANSLATED:
        in_python, in_sql = _both(shop, source)
        assert in_sql is not None, source
        assert in_sql == in_python, source
        chosen.add(len(in_python))
    assert len(chosen) > 3  # the conditions tell the members apart


def test_missing_features_read_as_zero_in_sql(shop):
    in_python, in_sql = _both(shop, "member.features.r_score == 0 && "
                                    "member.features.tier == \"\"")
    assert in_sql == in_python == [shop.ids[1], shop.ids[5]]


def test_other_conditions_are_evaluated_in_python(shop):
    for source in NOT_TRANSLATED:
        in_python, in_sql = _both(shop, source)
        assert in_sql is None, source
    found = shop.db.read(lambda conn: service.matching_members(
        conn, shop.program, "size(member.tags) >= 2"))
    assert found == [shop.ids[2]]


def test_segments_fill_and_refresh_from_translated_and_python_conditions(shop, clock):
    def create(key, condition):
        return shop.db.transact(lambda conn: service.create_segment(
            conn, shop.program, SegmentCreate(key=key, name=key, condition=condition),
            "test", clock.now()))
    assert create("vip", "\"vip\" in member.tags")["members"] == 3
    assert create("many-tags", "size(member.tags) >= 2")["members"] == 1
    shop.db.transact(lambda conn: conn.execute(update(member_features).where(
        member_features.c.member_id == shop.ids[0]).values(tags=[])))
    changes = {c.key: c for c in shop.db.transact(
        lambda conn: service.refresh_all(conn, shop.program, clock.now()))}
    assert (changes["vip"].members, changes["vip"].left, changes["vip"].entered) == (2, 1, 0)
    assert changes["many-tags"].members == 1
    members = shop.db.read(lambda conn: service.members_page(conn, shop.program, "vip", 0, 10))
    assert [m["member_id"] for m in members["items"]] == [shop.ids[2], shop.ids[5]]
