"""The retention sweep: the program document's ``privacy`` settings, applied.

Run with the other sweeps (``patron jobs run``, the server's scheduler). For each
program whose current version sets them:

- ``erase_closed_after_days``: every member closed at least that long ago is erased
  (``erasure.erase_member``, one transaction each, audited as ``job:retention``);
- ``keep_event_data_days``: events received at least that long ago keep only the fields
  rules read (``patron.events.retention``), a batch per transaction, from where the
  last sweep stopped.

Running it twice changes nothing more: an erased member is no longer closed, and
pruned events lie behind the program's mark.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from patron.events.retention import prune_received_before
from patron.flows.privacy.erasure import erase_member
from patron.members import repository as member_repository
from patron.members.standing import MemberErased
from patron.program.privacy import Privacy
from patron.program.repository import all_program_ids
from patron.program.service import get_program
from patron.program.versions import versions

ACTOR = "job:retention"


def _privacy(db: Any, program_id: int) -> Privacy:
    def read(conn: Any) -> Privacy:
        program = get_program(conn, program_id)
        return versions.compiled(conn, program, program.version).document.privacy
    return db.read(read)


def erase_closed(db: Any, program_id: int, days: int, now: datetime) -> int:
    """Erase the program's members closed ``days`` ago or more; how many."""
    cutoff = now - timedelta(days=days)
    due = db.read(lambda conn: member_repository.closed_before(conn, program_id, cutoff))
    reason = f"closed more than {days} days ago (privacy.erase_closed_after_days)"
    erased = 0
    for member_id in due:
        try:
            db.transact(lambda conn: erase_member(
                conn, get_program(conn, program_id), member_id, actor=ACTOR, reason=reason,
                now=now, audit_as="retention: erase closed member"))
        except MemberErased:  # erased meanwhile, by someone else
            continue
        erased += 1
    return erased


def prune_events(db: Any, program_id: int, days: int, now: datetime) -> int:
    """Prune the payloads of the program's events received ``days`` ago or more."""
    cutoff, changed, more = now - timedelta(days=days), 0, True
    while more:
        more, done = db.transact(lambda conn: prune_received_before(
            conn, get_program(conn, program_id), cutoff, now))
        changed += done
    return changed


def run(db: Any, now: datetime) -> dict[str, int]:
    """Every program's retention; members erased and events pruned."""
    erased = pruned = 0
    for program_id in db.read(all_program_ids):
        privacy = _privacy(db, program_id)
        if privacy.erase_closed_after_days is not None:
            erased += erase_closed(db, program_id, privacy.erase_closed_after_days, now)
        if privacy.keep_event_data_days is not None:
            pruned += prune_events(db, program_id, privacy.keep_event_data_days, now)
    return {"members_erased": erased, "events_pruned": pruned}
