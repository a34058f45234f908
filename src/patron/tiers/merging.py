"""A member's tier when two members become one, and when they part again.

A merge hands the merged member's qualification entries and tier history to the
survivor (``patron.flows.merging``); the survivor is then placed on the combined
history: the level the combined metric secures, never below the tier either of
the two held (a merge must not cost anyone a tier they had). An undo gives each
member back the standing it had just before the merge (recorded then with
``standing``), or better if its own history now secures more.
Both are recorded in the member's tier history (``merge``, ``unmerge``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.program.service import Program
from patron.program.versions import get_version
from patron.tiers import domain, repository
from patron.tiers.placement import _entries, _Placer
from patron.tiers.service import metric_text

MERGED, UNMERGED = "merge", "unmerge"


def standing(conn: Connection, program_id: int, member_ids: list[int]) -> dict[str, Any]:
    """Each member's tier and until when it is secured, as JSON for ``merges.moved``."""
    found = repository.states(conn, program_id, member_ids)
    return {str(m): ({"tier_id": found[m].tier_id,
                      "secured_until": (found[m].secured_until.isoformat()
                                        if found[m].secured_until else None)}
                     if m in found else None) for m in member_ids}


def _own_level(conn: Connection, program: Program, tiers: Any, zone: Any, member_id: int,
               now: datetime) -> tuple[int, datetime | None, int]:
    joined = repository.joined_at(conn, [member_id])[member_id]
    entries = _entries(conn, tiers, zone, [member_id], now)
    level, secured = domain.secured_level(tiers, entries, now, zone, joined)
    value = sum(amount for at, amount in entries
                if at >= domain.window(tiers, now, zone, joined)[0])
    return level, secured, value


def place_merged(conn: Connection, program: Program, survivor_id: int, merged_id: int, *,
                 merge_id: int, now: datetime, actor: str) -> None:
    """Place the survivor on the combined history (the entries already moved to it)."""
    document = get_version(conn, program).document
    if document.tiers is None:
        return
    tiers, zone = document.tiers, document.settings.zone
    placer = _Placer(conn, program, tiers, [survivor_id, merged_id], now, actor)
    level, secured, value = _own_level(conn, program, tiers, zone, survivor_id, now)
    for held in (survivor_id, merged_id):
        if placer.index(held) > level or (placer.index(held) == level and secured is not None
                                          and (placer.secured(held) or now) > secured):
            level, secured = placer.index(held), placer.secured(held)
    placer.place(survivor_id, level, secured, MERGED,
                 f"merged with member {merged_id} (merge {merge_id}): "
                 f"{tiers.levels[level].name} on the combined "
                 f"{metric_text(tiers, program.settings.currency, value)}", value)
    placer.write()


def place_parted(conn: Connection, program: Program, member_id: int,
                 before: dict[str, Any] | None, *, merge_id: int, now: datetime,
                 actor: str) -> None:
    """Give a member back the tier it held before the merge (``before``, from
    ``standing``), or what its own history secures now when that is more."""
    document = get_version(conn, program).document
    if document.tiers is None:
        return
    tiers, zone = document.tiers, document.settings.zone
    placer = _Placer(conn, program, tiers, [member_id], now, actor)
    level, secured, value = _own_level(conn, program, tiers, zone, member_id, now)
    if before is not None:
        held = tiers.index(before["tier_id"])
        held_until = (datetime.fromisoformat(before["secured_until"])
                      if before["secured_until"] else None)
        if held >= level:
            level, secured = held, held_until
    placer.place(member_id, level, secured, UNMERGED,
                 f"merge {merge_id} undone: {tiers.levels[level].name} on its own history",
                 value)
    placer.write()
