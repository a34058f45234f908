"""The features job: features, then rule tags, then dynamic segments, per program.

Each program is refreshed in one transaction, so conditions never see half a
refresh. Run by ``patron features refresh`` and with the scheduled sweeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from patron.db import Database
from patron.program.repository import all_program_ids
from patron.program.service import Program, get_program
from patron.segments import service
from patron.segments.features import Advance, refresh_features


@dataclass(frozen=True)
class InsightRefreshed:
    members: int
    tags_added: int
    tags_removed: int
    segments: int


def refresh_program(conn: Connection, program: Program, now: datetime,
                    advance: Advance | None = None) -> InsightRefreshed:
    done = refresh_features(conn, program, now, advance)
    added, removed = service.apply_rule_tags(conn, program, now)
    changes = service.refresh_all(conn, program, now)
    return InsightRefreshed(done.members, added, removed, len(changes))


def run_all(db: Database, now: datetime) -> dict[str, int]:
    """Every program in turn; the totals."""
    totals = {"members": 0, "tags_added": 0, "tags_removed": 0, "segments": 0}
    for program_id in db.read(all_program_ids):
        done = db.transact(lambda conn, p=program_id: refresh_program(
            conn, get_program(conn, p), now))
        for name in totals:
            totals[name] += getattr(done, name)
    return totals
