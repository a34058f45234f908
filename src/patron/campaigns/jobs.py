"""The campaigns sweep: announce campaigns that started, and assign new target members
of every running campaign.

Members who join a target segment (or enrol, for a campaign without one) while
the campaign runs are assigned at the next sweep; those already assigned stay
where they are. One transaction per program; ``patron.flows.jobs.run_all`` runs
it with the other scheduled sweeps.
"""

from __future__ import annotations

from datetime import datetime

from patron.campaigns import service
from patron.db import Database
from patron.program import repository as program_repository
from patron.program.service import get_program


def run(db: Database, now: datetime) -> dict[str, int]:
    done = {"started": 0, "assigned": 0, "coupons": 0}
    for program_id in db.read(program_repository.all_program_ids):
        done["started"] += db.transact(lambda conn: service.announce_started(
            conn, get_program(conn, program_id), now))
        results = db.transact(lambda conn: service.assign(conn, get_program(conn, program_id),
                                                          now))
        done["assigned"] += sum(r.treatment + r.holdout for r in results)
        done["coupons"] += sum(r.coupons for r in results)
    return done
