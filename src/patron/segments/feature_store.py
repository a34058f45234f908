"""Writing ``member_features`` mostly inside the database.

A refresh stages favourites and tags in temporary tables (an INSERT … SELECT
each), fetches each order's member, day and net amount as integer columns (one
pass over the orders: Python sums them per member faster than two grouped
statements and a window), stages the buyers' summaries and the scores it computed
from them (RFM, model figures) in one more temporary table, and then writes every
feature row with one INSERT … SELECT that joins members, the stages, balances,
tiers and referrals. Dates, recency and age bands are computed by that statement,
so a million members never become a million Python tuples.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from itertools import chain, islice
from typing import Any

import numpy as np
from sqlalchemy import (BigInteger, Column, Connection, Date, Float, Integer, MetaData, String,
                        Table, and_, case, cast, delete, func, literal, or_, select, type_coerce)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join
from sqlalchemy.sql.elements import ColumnElement

from patron.db.types import BigId, JSONDoc, UTCDateTime
from patron.earning.tables import order_returns
from patron.events.tables import order_lines, orders
from patron.ledger.domain import LotState
from patron.ledger.tables import accounts, lots
from patron.members.tables import members
from patron.referrals.tables import referrals
from patron.segments.domain import AGE_BANDS, EXPIRING_DAYS
from patron.segments.repository import (CHUNK, FEATURE_COLUMNS, driver_rows, eligible,
                                        epoch_day)
from patron.segments.tables import member_features, member_tags
from patron.tiers.tables import tier_states

EPOCH = date(1970, 1, 1)
SQLITE_CACHE_KIB = 512 * 1024
"""The SQLite page cache a refresh may fill (KiB): a million members' rows and indexes."""
_stages = MetaData()
scores_stage = Table(
    "feature_scores", _stages,
    Column("member_id", BigId, primary_key=True),
    Column("orders", BigInteger, nullable=False), Column("spend", BigInteger, nullable=False),
    Column("last_day", BigInteger, nullable=False),
    Column("r_score", Integer), Column("f_score", Integer), Column("m_score", Integer),
    Column("rfm_segment", String(40)), Column("churn_probability", Float),
    Column("expected_purchases", Float), Column("expected_value", BigInteger),
    prefixes=["TEMPORARY"])
SCORE_COLUMNS = tuple(c.name for c in scores_stage.columns)
"""Per buyer: orders, spend net of returns and last purchase day (UTC epoch day), summed
by ``domain.purchase_summaries``, and the scores computed from them."""
categories_stage = Table("feature_categories", _stages,
                         Column("member_id", BigId, primary_key=True),
                         Column("category", String(200)), prefixes=["TEMPORARY"])
channels_stage = Table("feature_channels", _stages,
                       Column("member_id", BigId, primary_key=True),
                       Column("channel", String(64)), prefixes=["TEMPORARY"])
tags_stage = Table("feature_tags", _stages, Column("member_id", BigId, primary_key=True),
                   Column("tags", JSONDoc), prefixes=["TEMPORARY"])
STAGES = (scores_stage, categories_stage, channels_stage, tags_stage)
"""Keyed by member (the rowid on SQLite), so the final statement joins them by index on
SQLite too."""


@contextlib.contextmanager
def room_to_work(conn: Connection) -> Iterator[None]:
    """Memory to sort and hash in, for the refresh only.

    On PostgreSQL the refresh's transaction gets room to sort and hash in memory (the
    favourites rank every member's categories; 4 MB spills to disk at 100k members)
    and no JIT compilation, which costs more than it saves on one-off statements. On
    SQLite the connection's page cache (which also bounds its sorts in memory) grows
    while the refresh runs, then is set back as it was: it does not touch durability."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql("SET LOCAL jit = off")
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def stage_favourites(conn: Connection, program_id: int, now: datetime) -> None:
    """Each member's favourite category and channel and tags, in their stages (which
    start empty, with the scores' stage)."""
    for stage in STAGES:
        stage.drop(conn, checkfirst=True)
        stage.create(conn)
    conn.execute(categories_stage.insert().from_select(
        ["member_id", "category"], _favourite_categories(program_id, now)))
    conn.execute(channels_stage.insert().from_select(
        ["member_id", "channel"], _favourite_channels(program_id, now)))
    conn.execute(tags_stage.insert().from_select(["member_id", "tags"], _tags(conn, program_id)))
    if conn.dialect.name == "postgresql":
        for stage in (categories_stage, channels_stage, tags_stage):
            conn.exec_driver_sql(f"ANALYZE {stage.name}")  # temporary: never auto-analysed


def _returned_by_order(program_id: int, now: datetime) -> Any:
    """(order_pk, returned): the value of each order's lines returned by ``now``, every
    returned line pro rata to its quantity (whole minor units, rounded down)."""
    value = order_lines.c.amount * order_returns.c.quantity // order_lines.c.quantity
    return (select(order_returns.c.order_pk, func.sum(value).label("returned"))
            .join(order_lines, and_(order_lines.c.order_pk == order_returns.c.order_pk,
                                    order_lines.c.line_no == order_returns.c.line_index))
            .where(order_returns.c.program_id == program_id, order_returns.c.recorded_at <= now)
            .group_by(order_returns.c.order_pk).subquery())


def order_entries(conn: Connection, program_id: int, now: datetime
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every order by ``now`` of an eligible member as three int64 arrays: the member,
    the UTC epoch day, and what was paid net of returns (never below zero)."""
    day = epoch_day(conn, orders.c.occurred_at)
    returned = _returned_by_order(program_id, now)
    net = orders.c.total - func.coalesce(returned.c.returned, 0)
    rows = driver_rows(conn, select(orders.c.member_id, day, case((net < 0, 0), else_=net))
                       .select_from(ScanFirst(orders, members, members.c.id == orders.c.member_id)
                                    .outerjoin(returned, returned.c.order_pk == orders.c.id))
                       .where(orders.c.program_id == program_id, orders.c.occurred_at <= now,
                              eligible(program_id), members.c.created_at <= now))
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows) * 3)
    member, days, paid = flat.reshape(-1, 3).T
    return member, days, paid


class ScanFirst(Join):
    """An inner join that SQLite reads left table first (``CROSS JOIN``): the orders in
    table order, each member found by key. Left to its planner, SQLite starts from a
    members index and looks each member's orders up, several times slower at a million
    members."""

    inherit_cache = True


@compiles(ScanFirst, "sqlite")
def _scan_first(join: ScanFirst, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    return (f"{compiler.process(join.left, **kw)} CROSS JOIN "
            f"{compiler.process(join.right, **kw)} ON {compiler.process(join.onclause, **kw)}")


def stage_scores(conn: Connection, columns: Sequence[Sequence[Any]]) -> None:
    """Scores per member (sequences in ``SCORE_COLUMNS`` order), in their stage. On
    PostgreSQL through COPY's text format, each value written with ``str`` (numbers
    exactly, as ``repr``; names hold no tab, newline or backslash), ``None`` as ``\\N``."""
    if conn.dialect.name != "postgresql":
        conn.connection.driver_connection.cursor().executemany(
            f"INSERT INTO feature_scores ({', '.join(SCORE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})", zip(*columns))
        return
    text = [["\\N" if value is None else str(value) for value in column] for column in columns]
    with conn.connection.driver_connection.cursor().copy(
            f"COPY feature_scores ({', '.join(SCORE_COLUMNS)}) FROM STDIN") as copy:
        rows = zip(*text)
        while chunk := list(islice(rows, CHUNK * 5)):
            copy.write("".join(f"{line}\n" for line in map("\t".join, chunk)))


def write_features(conn: Connection, program_id: int, now: datetime, today: date) -> int:
    """Replace the program's feature rows from the stages; how many were written."""
    conn.execute(delete(member_features).where(member_features.c.program_id == program_id))
    conn.execute(member_features.insert().from_select(
        list(FEATURE_COLUMNS), _feature_rows(conn, program_id, now, today)))
    for stage in STAGES:
        stage.drop(conn)
    return int(conn.execute(select(func.count()).where(
        member_features.c.program_id == program_id)).scalar_one())


def _feature_rows(conn: Connection, program_id: int, now: datetime, today: date) -> Any:
    s, category, channel, tags = STAGES
    joined, facts = _member_facts(program_id, now)
    recency = cast(literal((today - EPOCH).days, BigInteger) - s.c.last_day, Integer)
    values = {
        "member_id": members.c.id, "program_id": literal(program_id, BigInteger),
        "computed_at": literal(now, UTCDateTime), "joined_on": _date_of(conn, members.c.created_at),
        "last_purchase_on": _epoch_date(conn, s.c.last_day), "recency_days": recency,
        "days_since_last_purchase": recency, "frequency": func.coalesce(s.c.orders, 0),
        "monetary": func.coalesce(s.c.spend, 0),
        **{name: s.c[name] for name in SCORE_COLUMNS[4:]},
        "tier": facts["tier"], "age_band": _age_band(conn, members.c.birthdate, today),
        "region": members.c.region, "join_channel": members.c.join_channel,
        "favourite_category": category.c.category, "favourite_channel": channel.c.channel,
        "points_balance": facts["balance"], "expiring_points": facts["expiring"],
        "referral_count": facts["referrals"],
        "tags": func.coalesce(tags.c.tags, _empty_list(conn)),
    }
    return (select(*(values[name] for name in FEATURE_COLUMNS))
            .select_from(joined.outerjoin(s, s.c.member_id == members.c.id)
                         .outerjoin(category, category.c.member_id == members.c.id)
                         .outerjoin(channel, channel.c.member_id == members.c.id)
                         .outerjoin(tags, tags.c.member_id == members.c.id))
            .where(eligible(program_id), members.c.created_at <= now)
            .order_by(members.c.id))  # rows arrive in key order: appended to the index


def _date_of(conn: Connection, column: Any) -> ColumnElement[date]:
    """The UTC date of a timestamp column."""
    if conn.dialect.name == "sqlite":
        return type_coerce(func.date(column), Date)  # stored as naive UTC text
    return cast(func.timezone("UTC", column), Date)


def _epoch_date(conn: Connection, day: Any) -> ColumnElement[date]:
    if conn.dialect.name == "sqlite":
        return type_coerce(func.date(day * 86400, "unixepoch"), Date)
    return literal(EPOCH, Date) + cast(day, Integer)


def _age_band(conn: Connection, birthdate: Any, today: date) -> ColumnElement[str]:
    """``domain.age_band`` in SQL: whole years, a year more once the birthday is past."""
    if conn.dialect.name == "sqlite":
        year = cast(func.strftime("%Y", birthdate), Integer)
        month_day = func.strftime("%m%d", birthdate)
    else:
        year = cast(func.extract("year", birthdate), Integer)
        month_day = func.to_char(birthdate, "MMDD")
    age = today.year - year - case((literal(f"{today:%m%d}") < month_day, 1), else_=0)
    return case(*((age < limit, label) for limit, label in AGE_BANDS), else_=None)


def _empty_list(conn: Connection) -> Any:
    return literal("[]") if conn.dialect.name == "sqlite" else cast(literal("[]"), JSONDoc)


def _tags(conn: Connection, program_id: int) -> Any:
    """(member_id, tags): each tagged member's tags as a JSON list, by name."""
    if conn.dialect.name == "postgresql":
        return (select(member_tags.c.member_id,
                       func.jsonb_agg(aggregate_order_by(member_tags.c.tag, member_tags.c.tag))
                       .label("tags"))
                .where(member_tags.c.program_id == program_id)
                .group_by(member_tags.c.member_id))
    ordered = (select(member_tags.c.member_id, member_tags.c.tag)
               .where(member_tags.c.program_id == program_id)
               .order_by(member_tags.c.member_id, member_tags.c.tag).subquery())
    # SQLite aggregates in the order of the sorted subquery, which the grouping keeps
    return (select(ordered.c.member_id, func.json_group_array(ordered.c.tag).label("tags"))
            .group_by(ordered.c.member_id))


def _favourite_categories(program_id: int, now: datetime) -> Any:
    """(member_id, category) of each member's category with the most revenue (ties: by
    name)."""
    revenue = func.sum(order_lines.c.amount)
    ranked = (select(orders.c.member_id, order_lines.c.category,
                     func.row_number().over(partition_by=orders.c.member_id,
                                            order_by=(revenue.desc(), order_lines.c.category))
                     .label("rank"))
              .select_from(orders.join(order_lines, order_lines.c.order_pk == orders.c.id))
              .where(orders.c.program_id == program_id, orders.c.occurred_at <= now,
                     order_lines.c.category.is_not(None), order_lines.c.category != "")
              .group_by(orders.c.member_id, order_lines.c.category).subquery())
    return select(ranked.c.member_id, ranked.c.category).where(ranked.c.rank == 1)


def _favourite_channels(program_id: int, now: datetime) -> Any:
    """(member_id, channel) of each member's channel with the most orders (ties: by name)."""
    ranked = (select(orders.c.member_id, orders.c.channel,
                     func.row_number().over(partition_by=orders.c.member_id,
                                            order_by=(func.count().desc(), orders.c.channel))
                     .label("rank"))
              .where(orders.c.program_id == program_id, orders.c.occurred_at <= now,
                     orders.c.channel.is_not(None))
              .group_by(orders.c.member_id, orders.c.channel).subquery())
    return select(ranked.c.member_id, ranked.c.channel).where(ranked.c.rank == 1)


def _member_facts(program_id: int, now: datetime) -> tuple[Any, dict[str, Any]]:
    """Members joined with what gives their spendable points, points expiring soon,
    tier now (a manual tier while it lasts) and referrals made; and those columns."""
    soon = now + timedelta(days=EXPIRING_DAYS)
    expiring = (select(lots.c.account_id, func.sum(lots.c.remaining).label("points"))
                .where(lots.c.program_id == program_id, lots.c.state == LotState.OPEN.value,
                       lots.c.expires_at > now, lots.c.expires_at <= soon)
                .group_by(lots.c.account_id).subquery())
    referred = (select(referrals.c.referrer_id, func.count().label("made"))
                .where(referrals.c.program_id == program_id)
                .group_by(referrals.c.referrer_id).subquery())
    tier = case((and_(tier_states.c.manual_tier_id.is_not(None),
                      or_(tier_states.c.manual_until.is_(None),
                          tier_states.c.manual_until > now)), tier_states.c.manual_tier_id),
                else_=tier_states.c.tier_id)
    joined = (members
              .outerjoin(accounts, and_(accounts.c.member_id == members.c.id,
                                        accounts.c.program_id == program_id))
              .outerjoin(expiring, expiring.c.account_id == accounts.c.id)
              .outerjoin(tier_states, and_(tier_states.c.member_id == members.c.id,
                                           tier_states.c.program_id == program_id))
              .outerjoin(referred, referred.c.referrer_id == members.c.id))
    return joined, {"balance": func.coalesce(accounts.c.available, 0),
                    "expiring": func.coalesce(expiring.c.points, 0), "tier": tier,
                    "referrals": func.coalesce(referred.c.made, 0)}
