"""Who is in a segment now: what campaigns and reports read.

A dynamic segment's members are those the last refresh put in it; a static
segment's those uploaded to it (and not removed). Either way they are the
``segment_members`` rows that have not left.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, select

from patron.errors import NotFound
from patron.segments.tables import segment_members, segments


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    title = "No such segment"


def segment_id(conn: Connection, program_id: int, key: str) -> int:
    found = conn.execute(select(segments.c.id).where(
        segments.c.program_id == program_id, segments.c.key == key)).scalar()
    if found is None:
        raise SegmentNotFound(f"program {program_id} has no segment {key!r}", field="segment")
    return int(found)


def members_of(conn: Connection, program_id: int, key: str) -> list[int]:
    """Ids of the segment's current members, ascending (raises ``SegmentNotFound``)."""
    sid = segment_id(conn, program_id, key)
    return list(conn.execute(
        select(segment_members.c.member_id)
        .where(segment_members.c.segment_id == sid, segment_members.c.left_at.is_(None))
        .order_by(segment_members.c.member_id)).scalars())


def in_segment(conn: Connection, program_id: int, key: str,
               member_ids: Collection[int]) -> set[int]:
    """Which of ``member_ids`` are in the segment now."""
    if not member_ids:
        return set()
    sid = segment_id(conn, program_id, key)
    return set(conn.execute(
        select(segment_members.c.member_id)
        .where(segment_members.c.segment_id == sid, segment_members.c.left_at.is_(None),
               segment_members.c.member_id.in_(sorted(member_ids)))).scalars())
