"""The memberships sweep: periods that ended, grace periods that ran out.

Finds the memberships whose ``next_review_at`` has come, locks each, and applies
what became due (``domain.advance``): active → past_due when a paid period ended
unpaid (a free plan renews itself), cancelled → ended at the end of the paid
period, past_due → lapsed after the plan's grace days, pending_payment → lapsed
when never paid. Each change is recorded at the moment it was due, so a sweep
that runs late writes the same history, and running it twice changes nothing.

``patron.flows.jobs.run_all`` runs it with the other scheduled sweeps.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Connection

from patron.db import Database
from patron.memberships import repository
from patron.memberships.service import catch_up
from patron.program.service import Program, get_program

BATCH = 200
COUNTS = {"fell_past_due": "past_due", "lapsed": "lapsed", "ended": "ended",
          "renewed": "renewed"}


def _batch(conn: Connection, now: datetime, program_id: int | None) -> Counter[str]:
    done: Counter[str] = Counter()
    programs: dict[int, Program] = {}
    for membership_id in repository.due_membership_ids(conn, now, BATCH, program_id):
        row = repository.locked_row(conn, membership_id)
        if row.program_id not in programs:
            programs[row.program_id] = get_program(conn, row.program_id)
        step = catch_up(conn, programs[row.program_id], row, now)
        done["memberships"] += 1
        done.update(COUNTS.get(t.event.value, t.event.value) for t in step.transitions)
    return done


def run(db: Database, now: datetime, program_id: int | None = None) -> dict[str, int]:
    """Apply every membership change due by ``now`` (in one program, or all of them),
    one transaction per batch.

    Returns counts: ``memberships`` looked at (some only entered a period paid
    in advance), and the transitions written: ``past_due``, ``lapsed``,
    ``ended``, ``renewed`` (free plans).
    """
    total: Counter[str] = Counter()
    while True:
        done = db.transact(lambda conn: _batch(conn, now, program_id))
        total.update(done)
        if done["memberships"] < BATCH:
            return {"memberships": total["memberships"],
                    **{name: total[name] for name in COUNTS.values()}}
