"""Queries behind tags, features and segments (writing features: ``feature_store``).

Everything here is set-based: one query over the whole program, never a query
per member. Days are UTC epoch days (whole days since 1970-01-01), computed in
SQL so a million orders never cross into Python as timestamps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from itertools import chain
from typing import Any

import numpy as np
from sqlalchemy import (BigInteger, Connection, Integer, and_, cast, delete, func, literal,
                        select)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

from patron.db.types import JSONDoc
from patron.members.tables import members
from patron.segments.tables import (member_features, member_tags, segment_counts,
                                     segment_members, segments)

CHUNK = 20_000
FEATURE_COLUMNS = tuple(c.name for c in member_features.columns)


def epoch_day(conn: Connection, column: Any) -> ColumnElement[int]:
    """Whole UTC days since 1970-01-01 of a timestamp column."""
    if conn.dialect.name == "sqlite":
        return cast(func.julianday(column) - 2440587.5, Integer)  # stored as naive UTC text
    return cast(func.floor(func.extract("epoch", column) / 86400), BigInteger)


def eligible(program_id: int) -> ColumnElement[bool]:
    """Members that count: of the program, not merged into another, not closed or erased."""
    return and_(members.c.program_id == program_id, members.c.merged_into.is_(None),
                members.c.status.notin_(("closed", "erased")))


def feature_row(conn: Connection, program_id: int, member_id: int) -> Any:
    return conn.execute(select(member_features).where(
        member_features.c.program_id == program_id,
        member_features.c.member_id == member_id)).first()


def feature_columns(conn: Connection, program_id: int, columns: Sequence[str]
                    ) -> tuple[list[int], list[Sequence[Any]]]:
    """Ids of every eligible member's feature row (ascending), and each column's values
    in the same order: one fetch straight through the driver, transposed.

    Values come as the driver gives them (dates as ISO text on SQLite), but ``tags``,
    which is a tuple of names on both databases."""
    wanted = [member_features.c[name] for name in columns]
    query = (select(member_features.c.member_id, *wanted)
             .select_from(member_features.join(members,
                                               members.c.id == member_features.c.member_id))
             .where(member_features.c.program_id == program_id, eligible(program_id))
             .order_by(member_features.c.member_id))
    rows = driver_rows(conn, query)
    if not rows:
        return [], [[] for _ in columns]
    ids, *values = zip(*rows)
    if "tags" in columns:
        at = columns.index("tags")
        values[at] = _tag_tuples(values[at])
    return list(ids), values


def ids_where(conn: Connection, program_id: int, condition: ColumnElement[bool]
              ) -> np.ndarray:
    """Ids of the eligible members whose feature row meets a WHERE clause, ascending."""
    rows = driver_rows(conn, select(member_features.c.member_id)
                       .select_from(member_features.join(
                           members, members.c.id == member_features.c.member_id))
                       .where(member_features.c.program_id == program_id,
                              eligible(program_id), condition)
                       .order_by(member_features.c.member_id))
    return np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows))


def driver_rows(conn: Connection, query: Any) -> list[tuple[Any, ...]]:
    """All rows of a query as the driver's tuples: parameters bound as usual, results
    not processed into rows (for columns whose driver values are good as they are)."""
    result = conn.execute(query)
    rows = result.cursor.fetchall()
    result.close()
    return rows


def _tag_tuples(column: Sequence[Any]) -> list[tuple[str, ...]]:
    """Tag lists (JSON text on SQLite) as tuples, each distinct list decoded once."""
    decoded: dict[Any, tuple[str, ...]] = {}
    out = []
    for value in column:
        key = value if isinstance(value, (str, type(None))) else tuple(value)
        found = decoded.get(key)
        if found is None:
            found = decoded[key] = tuple(json.loads(value) if isinstance(value, str)
                                         else value or ())
        out.append(found)
    return out


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
    """Bring ``member_features.tags`` of these members in line with ``member_tags``: one
    UPDATE per 10,000 members, each row's tags gathered by the database."""
    wanted = sorted(set(member_ids))
    tags = _feature_tags(conn)
    for start in range(0, len(wanted), 10_000):
        conn.execute(member_features.update().where(
            member_features.c.program_id == program_id,
            member_features.c.member_id.in_(wanted[start:start + 10_000])).values(tags=tags))


def _feature_tags(conn: Connection) -> Any:
    """The tags of the ``member_features`` row at hand, by name, as a JSON list."""
    if conn.dialect.name == "postgresql":
        return (select(func.coalesce(
            func.jsonb_agg(aggregate_order_by(member_tags.c.tag, member_tags.c.tag)),
            cast(literal("[]"), JSONDoc)))
            .where(member_tags.c.member_id == member_features.c.member_id).scalar_subquery())
    ordered = (select(member_tags.c.tag)
               .where(member_tags.c.member_id == member_features.c.member_id)
               .order_by(member_tags.c.tag).correlate(member_features).subquery())
    return select(func.json_group_array(ordered.c.tag)).scalar_subquery()


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
    rows = driver_rows(conn, select(segment_members.c.member_id).where(
        segment_members.c.segment_id == segment_id, segment_members.c.left_at.is_(None)))
    return np.unique(np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=len(rows)))


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
    elif entered:  # as UTCDateTime stores it on SQLite: naive UTC text
        at = now.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn.connection.driver_connection.cursor().executemany(
            "INSERT INTO segment_members (segment_id, member_id, entered_at) VALUES (?, ?, ?)",
            ((segment_id, member_id, at) for member_id in entered))
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


def forget_members(conn: Connection, member_ids: Sequence[int], now: datetime) -> None:
    """The members' tags and features go, and they leave every segment they are in."""
    ids = list(member_ids)
    conn.execute(delete(member_tags).where(member_tags.c.member_id.in_(ids)))
    conn.execute(delete(member_features).where(member_features.c.member_id.in_(ids)))
    conn.execute(segment_members.update().where(
        segment_members.c.member_id.in_(ids), segment_members.c.left_at.is_(None))
        .values(left_at=now))
