"""Campaign targets from recommendations: static segments of the members likeliest to
buy a category or a product, or to redeem a reward.

``build`` makes (or re-makes) such a segment: the active members whose
recommended items of that kind include the item, as the model ranked it, strongest
first, at most ``top`` of them. The recipe is kept (``recommendation_segments``)
and every training fills the segment again (``refresh_all``), so a campaign aimed
at "likely-coffee" follows the model. A segment of that key made another way
(a dynamic one, an uploaded list) is never overwritten: 409 ``segment_exists``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.db import Database
from patron.flows.likely_segments_schemas import LikelySegment, LikelySegmentIn
from patron.program.repository import all_program_ids
from patron.program.service import Program, get_program
from patron.recommendations import service as recommendations
from patron.segments import service as segments
from patron.segments.membership import SegmentNotFound
from patron.segments.schemas import SegmentCreate, SegmentUpdate

WORDS = {"category": "buy", "product": "buy", "reward": "redeem"}


def build(conn: Connection, program: Program, payload: LikelySegmentIn, actor: str,
          now: datetime) -> LikelySegment:
    """Create or re-fill the segment, and keep its recipe for the trainings to come."""
    kind, item = payload.kind, payload.item
    name = payload.name or f"Likely to {WORDS[kind]} {item}"[:200]
    description = (f"The {payload.top:,} members likeliest to {WORDS[kind]} {kind} "
                   f"{item!r}, by recommendations; filled again by each training")
    try:
        found = segments.segment(conn, program, payload.key)
    except SegmentNotFound:
        found = None
    if found is None:
        segments.create_segment(conn, program, SegmentCreate(
            key=payload.key, name=name, description=description, kind="static"), actor, now)
    elif recommendations.recipe(conn, program, payload.key) is None:
        raise segments.SegmentExists(
            f"segment {payload.key!r} exists and was not made from recommendations; "
            "choose another key", field="key")
    else:
        segments.update_segment(conn, program, payload.key, SegmentUpdate(
            name=name, description=description), now)
    recommendations.save_recipe(conn, program, payload.key, kind, item, payload.top, actor,
                                now)
    return fill(conn, program, payload.key, kind, item, payload.top, now)


def fill(conn: Connection, program: Program, key: str, kind: str, item: str, top: int,
         now: datetime) -> LikelySegment:
    """The segment's members replaced by the likeliest members now."""
    ids = recommendations.likely_members(conn, program, kind, item, top)
    change = segments.upload_members(conn, program, key, ids, [], now)
    return LikelySegment(key=key, kind=kind, item=item, top=top, members=change.members,
                         entered=change.entered, left=change.left)


def refresh_program(conn: Connection, program: Program, now: datetime) -> list[LikelySegment]:
    return [fill(conn, program, r.segment_key, r.kind, r.item, r.top, now)
            for r in recommendations.recipes(conn, program)]


def refresh_all(db: Database, now: datetime) -> dict[str, Any]:
    """Every program's segments from recommendations, each program in one transaction."""
    totals = {"segments": 0, "members": 0}
    for program_id in db.read(all_program_ids):
        done = db.transact(lambda conn, p=program_id: refresh_program(
            conn, get_program(conn, p), now))
        totals["segments"] += len(done)
        totals["members"] += sum(s.members for s in done)
    return totals
