"""Queries behind features: purchase summaries, profile facts, and writing the rows.

Everything here is set-based: one GROUP BY per kind of fact over the whole
program, never a query per member. Days are UTC epoch days (whole days since
1970-01-01), computed in SQL so a million orders never cross into Python as
timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from sqlalchemy import (BigInteger, Connection, Integer, Result, and_, case, cast, delete, func,
                        or_, select)
from sqlalchemy.sql.elements import ColumnElement

from patron.events.tables import order_lines, orders
from patron.ledger.domain import LotState
from patron.ledger.tables import accounts, lots
from patron.members.tables import members
from patron.referrals.tables import referrals
from patron.segments.tables import (member_features, member_tags, segment_counts,
                                     segment_members, segments)
from patron.tiers.tables import tier_states

CHUNK = 20_000
FEATURE_COLUMNS = tuple(c.name for c in member_features.columns)


def epoch_day(conn: Connection, column: Any) -> ColumnElement[int]:
    """Whole UTC days since 1970-01-01 of a timestamp column."""
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(column) - 2440587.5, Integer)  # stored as naive UTC text
    return cast(func.floor(func.extract("epoch", column) / 86400), BigInteger)


def eligible(program_id: int) -> ColumnElement[bool]:
    """Members that count: of the program, not merged into another, not closed."""
    return and_(members.c.program_id == program_id, members.c.merged_into.is_(None),
                members.c.status != "closed")


def purchase_summary(conn: Connection, program_id: int, now: datetime) -> list[Any]:
    """Per purchasing member: orders, spend, first and last purchase day, purchase days
    and the spend of the first purchase day (Gamma-Gamma wants repeat spend only)."""
    day = epoch_day(conn, orders.c.occurred_at).label("day")
    days = (select(orders.c.member_id, day, func.count().label("orders"),
                   func.sum(orders.c.total).label("spend"),
                   func.min(day).over(partition_by=orders.c.member_id).label("first_day"))
            .where(orders.c.program_id == program_id, orders.c.occurred_at <= now)
            .group_by(orders.c.member_id, day).subquery())
    return list(conn.execute(
        select(days.c.member_id, func.sum(days.c.orders), func.sum(days.c.spend),
               func.min(days.c.day), func.max(days.c.day), func.count(),
               func.sum(case((days.c.day == days.c.first_day, days.c.spend), else_=0)))
        .group_by(days.c.member_id)))


def favourite_categories(conn: Connection, program_id: int, now: datetime) -> list[Any]:
    """(member, category) of each member's category with the most revenue (ties: by name)."""
    revenue = func.sum(order_lines.c.amount)
    ranked = (select(orders.c.member_id, order_lines.c.category,
                     func.row_number().over(partition_by=orders.c.member_id,
                                            order_by=(revenue.desc(), order_lines.c.category))
                     .label("rank"))
              .select_from(orders.join(order_lines, order_lines.c.order_pk == orders.c.id))
              .where(orders.c.program_id == program_id, orders.c.occurred_at <= now,
                     order_lines.c.category.is_not(None), order_lines.c.category != "")
              .group_by(orders.c.member_id, order_lines.c.category).subquery())
    return list(conn.execute(select(ranked.c.member_id, ranked.c.category)
                             .where(ranked.c.rank == 1)))


def favourite_channels(conn: Connection, program_id: int, now: datetime) -> list[Any]:
    """(member, channel) of each member's channel with the most orders (ties: by name)."""
    ranked = (select(orders.c.member_id, orders.c.channel,
                     func.row_number().over(partition_by=orders.c.member_id,
                                            order_by=(func.count().desc(), orders.c.channel))
                     .label("rank"))
              .where(orders.c.program_id == program_id, orders.c.occurred_at <= now,
                     orders.c.channel.is_not(None))
              .group_by(orders.c.member_id, orders.c.channel).subquery())
    return list(conn.execute(select(ranked.c.member_id, ranked.c.channel)
                             .where(ranked.c.rank == 1)))


def member_facts(conn: Connection, program_id: int, now: datetime) -> list[Any]:
    """Per eligible member: join date, birthdate, region, join channel, spendable points,
    points expiring soon, tier now (a manual tier while it lasts) and referrals made."""
    soon = now + timedelta(days=30)
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
    query = (select(members.c.id, members.c.created_at, members.c.birthdate, members.c.region,
                    members.c.join_channel, func.coalesce(accounts.c.available, 0),
                    func.coalesce(expiring.c.points, 0), tier,
                    func.coalesce(referred.c.made, 0))
             .select_from(members
                          .outerjoin(accounts, and_(accounts.c.member_id == members.c.id,
                                                    accounts.c.program_id == program_id))
                          .outerjoin(expiring, expiring.c.account_id == accounts.c.id)
                          .outerjoin(tier_states, and_(tier_states.c.member_id == members.c.id,
                                                       tier_states.c.program_id == program_id))
                          .outerjoin(referred, referred.c.referrer_id == members.c.id))
             .where(eligible(program_id), members.c.created_at <= now)
             .order_by(members.c.id))
    return list(conn.execute(query))


def tags_by_member(conn: Connection, program_id: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for member_id, tag in conn.execute(
            select(member_tags.c.member_id, member_tags.c.tag)
            .where(member_tags.c.program_id == program_id)
            .order_by(member_tags.c.member_id, member_tags.c.tag)):
        found.setdefault(member_id, []).append(tag)
    return found


def replace_features(conn: Connection, program_id: int, rows: Sequence[tuple[Any, ...]],
                     advance: Callable[[int, int], None] | None = None) -> None:
    """Every feature row of the program (tuples in ``FEATURE_COLUMNS`` order), replaced
    in chunks straight through the driver: COPY on PostgreSQL, executemany on SQLite.
    ``advance(rows written, of total)`` after each chunk."""
    conn.execute(delete(member_features).where(member_features.c.program_id == program_id))
    driver = conn.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = driver.cursor()
    tags_at = FEATURE_COLUMNS.index("tags")
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        if postgres:
            _copy(cursor, chunk, tags_at)
        else:
            cursor.executemany(_SQLITE_INSERT, [_sqlite_row(row, tags_at) for row in chunk])
        if advance is not None:
            advance(len(chunk), len(rows))


_NAMES = ", ".join(f'"{name}"' for name in FEATURE_COLUMNS)
_SQLITE_INSERT = (f"INSERT INTO member_features ({_NAMES}) "
                  f"VALUES ({', '.join('?' * len(FEATURE_COLUMNS))})")


def _copy(cursor: Any, rows: Iterable[tuple[Any, ...]], tags_at: int) -> None:
    with cursor.copy(f"COPY member_features ({_NAMES}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((*row[:tags_at], json.dumps(row[tags_at]), *row[tags_at + 1:]))


def _sqlite_row(row: tuple[Any, ...], tags_at: int) -> tuple[Any, ...]:
    """As ``UTCDateTime``, ``Date`` and ``JSONDoc`` store them on SQLite: naive UTC text,
    ISO dates, JSON text (computed_at, joined_on and last_purchase_on are columns 2-4)."""
    computed, joined, last = row[2], row[3], row[4]
    return (row[0], row[1],
            computed.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"),
            joined.isoformat() if joined else None, last.isoformat() if last else None,
            *row[5:tags_at], json.dumps(row[tags_at]), *row[tags_at + 1:])


def feature_row(conn: Connection, program_id: int, member_id: int) -> Any:
    return conn.execute(select(member_features).where(
        member_features.c.program_id == program_id,
        member_features.c.member_id == member_id)).first()


def feature_columns(conn: Connection, program_id: int, columns: Sequence[str]
                    ) -> tuple[list[int], list[Sequence[Any]]]:
    """Ids of every eligible member's feature row (ascending), and each column's values
    in the same order: one fetch, transposed."""
    rows = feature_values(conn, program_id, columns).all()
    if not rows:
        return [], [[] for _ in columns]
    ids, *values = zip(*rows)
    return list(ids), values


def feature_values(conn: Connection, program_id: int, columns: Sequence[str]
                   ) -> Result[Any]:
    """(member_id, *columns) of every eligible member's feature row."""
    wanted = [member_features.c[name] for name in columns]
    return conn.execute(
        select(member_features.c.member_id, *wanted)
        .select_from(member_features.join(members, members.c.id == member_features.c.member_id))
        .where(member_features.c.program_id == program_id, eligible(program_id))
        .order_by(member_features.c.member_id))


# --------------------------------------------------------------------------- tags

def member_tag(conn: Connection, member_id: int, tag: str) -> Any:
    return conn.execute(select(member_tags).where(member_tags.c.member_id == member_id,
                                                  member_tags.c.tag == tag)).first()


def tags_of(conn: Connection, member_id: int) -> list[Any]:
    return list(conn.execute(select(member_tags).where(member_tags.c.member_id == member_id)
                             .order_by(member_tags.c.tag)))


def add_tag(conn: Connection, program_id: int, member_id: int, tag: str, source: str,
            actor: str, now: datetime) -> None:
    conn.execute(member_tags.insert().values(program_id=program_id, member_id=member_id,
                                             tag=tag, source=source, added_by=actor,
                                             added_at=now))


def remove_tag(conn: Connection, member_id: int, tag: str) -> None:
    conn.execute(delete(member_tags).where(member_tags.c.member_id == member_id,
                                           member_tags.c.tag == tag))


def tag_sources(conn: Connection, program_id: int) -> tuple[dict[int, set[str]],
                                                            set[tuple[int, str]]]:
    """Each member's rule tags, and every (member, tag) held by hand."""
    rule: dict[int, set[str]] = {}
    manual: set[tuple[int, str]] = set()
    for member_id, tag, source in conn.execute(
            select(member_tags.c.member_id, member_tags.c.tag, member_tags.c.source)
            .where(member_tags.c.program_id == program_id)):
        if source == "rule":
            rule.setdefault(member_id, set()).add(tag)
        else:
            manual.add((member_id, tag))
    return rule, manual


def apply_rule_tags(conn: Connection, program_id: int, add: Sequence[tuple[int, str]],
                    remove: Sequence[tuple[int, str]], now: datetime) -> None:
    for start in range(0, len(remove), CHUNK):
        for member_id, tag in remove[start:start + CHUNK]:
            conn.execute(delete(member_tags).where(
                member_tags.c.member_id == member_id, member_tags.c.tag == tag,
                member_tags.c.source == "rule"))
    for start in range(0, len(add), CHUNK):
        conn.execute(member_tags.insert(), [
            {"program_id": program_id, "member_id": member_id, "tag": tag, "source": "rule",
             "added_by": "rule", "added_at": now} for member_id, tag in add[start:start + CHUNK]])


def set_feature_tags(conn: Connection, program_id: int, member_ids: Iterable[int]) -> None:
    """Bring ``member_features.tags`` of these members in line with ``member_tags``."""
    wanted = sorted(set(member_ids))
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start:start + 1000]
        held: dict[int, list[str]] = {m: [] for m in chunk}
        for member_id, tag in conn.execute(
                select(member_tags.c.member_id, member_tags.c.tag)
                .where(member_tags.c.member_id.in_(chunk)).order_by(member_tags.c.tag)):
            held[member_id].append(tag)
        for member_id, tags in held.items():
            conn.execute(member_features.update().where(
                member_features.c.member_id == member_id).values(tags=tags))


def insight_of(conn: Connection, program_id: int, member_ids: Iterable[int]
               ) -> dict[int, tuple[dict[str, Any], tuple[str, ...]]]:
    """Features and tags of some members, for earn rules: one query each."""
    wanted = sorted(set(member_ids))
    features = {row.member_id: dict(row._mapping) for row in conn.execute(
        select(member_features).where(member_features.c.program_id == program_id,
                                      member_features.c.member_id.in_(wanted)))}
    tags: dict[int, list[str]] = {}
    for member_id, tag in conn.execute(
            select(member_tags.c.member_id, member_tags.c.tag)
            .where(member_tags.c.member_id.in_(wanted)).order_by(member_tags.c.tag)):
        tags.setdefault(member_id, []).append(tag)
    return {m: (_readable(features.get(m, {})), tuple(tags.get(m, ()))) for m in wanted}


def _readable(row: dict[str, Any]) -> dict[str, Any]:
    """Dates as ISO strings, as the condition catalog types them."""
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


# --------------------------------------------------------------------------- segments

def segment_row(conn: Connection, program_id: int, key: str) -> Any:
    return conn.execute(select(segments).where(segments.c.program_id == program_id,
                                               segments.c.key == key)).first()


def segment_rows(conn: Connection, program_id: int, *, active_dynamic: bool = False
                 ) -> list[Any]:
    query = select(segments).where(segments.c.program_id == program_id)
    if active_dynamic:
        query = query.where(segments.c.active.is_(True), segments.c.kind == "dynamic")
    return list(conn.execute(query.order_by(segments.c.key)))


def insert_segment(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(segments.insert().values(**values))


def update_segment(conn: Connection, segment_id: int, values: dict[str, Any]) -> None:
    conn.execute(segments.update().where(segments.c.id == segment_id).values(**values))


def sizes(conn: Connection, segment_ids: Sequence[int]) -> dict[int, int]:
    if not segment_ids:
        return {}
    return dict(conn.execute(
        select(segment_members.c.segment_id, func.count())
        .where(segment_members.c.segment_id.in_(segment_ids),
               segment_members.c.left_at.is_(None))
        .group_by(segment_members.c.segment_id)).all())


def current_member_ids(conn: Connection, segment_id: int) -> np.ndarray:
    """The segment's current members, ascending."""
    found = conn.execute(select(segment_members.c.member_id).where(
        segment_members.c.segment_id == segment_id,
        segment_members.c.left_at.is_(None))).scalars().all()
    return np.unique(np.asarray(found, dtype=np.int64))


def record_changes(conn: Connection, segment_id: int, entered: Sequence[int],
                   left: Sequence[int], size: int, now: datetime) -> None:
    """Close the leavers' rows, open the entrants', and count the segment."""
    for start in range(0, len(left), 1000):
        conn.execute(segment_members.update().where(
            segment_members.c.segment_id == segment_id, segment_members.c.left_at.is_(None),
            segment_members.c.member_id.in_(left[start:start + 1000])).values(left_at=now))
    if entered and conn.dialect.name == "postgresql":
        tail = f"\t{now.astimezone(timezone.utc).isoformat()}\n"
        with conn.connection.driver_connection.cursor().copy(
                "COPY segment_members (segment_id, member_id, entered_at) FROM STDIN") as copy:
            for start in range(0, len(entered), CHUNK):
                copy.write("".join(f"{segment_id}\t{member_id}{tail}"
                                   for member_id in entered[start:start + CHUNK]))
    else:
        for start in range(0, len(entered), CHUNK):
            conn.execute(segment_members.insert(), [
                {"segment_id": segment_id, "member_id": m, "entered_at": now}
                for m in entered[start:start + CHUNK]])
    conn.execute(segment_counts.insert().values(segment_id=segment_id, counted_at=now,
                                                members=size, entered=len(entered),
                                                left=len(left)))
    conn.execute(segments.update().where(segments.c.id == segment_id)
                 .values(refreshed_at=now))


def member_page(conn: Connection, segment_id: int, after: int, limit: int) -> list[Any]:
    return list(conn.execute(
        select(segment_members.c.member_id, segment_members.c.entered_at)
        .where(segment_members.c.segment_id == segment_id,
               segment_members.c.left_at.is_(None), segment_members.c.member_id > after)
        .order_by(segment_members.c.member_id).limit(limit)))


def history(conn: Connection, segment_id: int, limit: int) -> list[Any]:
    return list(conn.execute(
        select(segment_counts).where(segment_counts.c.segment_id == segment_id)
        .order_by(segment_counts.c.counted_at.desc(), segment_counts.c.id.desc())
        .limit(limit)))


def segments_of_member(conn: Connection, program_id: int, member_id: int) -> list[Any]:
    return list(conn.execute(
        select(segments.c.key, segments.c.name, segments.c.kind, segment_members.c.entered_at)
        .select_from(segment_members.join(segments,
                                          segments.c.id == segment_members.c.segment_id))
        .where(segments.c.program_id == program_id, segment_members.c.member_id == member_id,
               segment_members.c.left_at.is_(None))
        .order_by(segments.c.key)))


def eligible_ids(conn: Connection, program_id: int, member_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(member_ids), 1000):
        found.update(conn.execute(select(members.c.id).where(
            eligible(program_id), members.c.id.in_(member_ids[start:start + 1000]))).scalars())
    return found

