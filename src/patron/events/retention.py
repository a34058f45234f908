"""Event payloads kept only as long as they are needed.

An event's ``data`` holds what its channel sent: the order and its lines, and often
more (the customer's name and address, a note, a device id). Rules can read only
the fields of the event type (``patron.program.catalog``: the built-in types' and
those the program declares), so after the program's ``privacy.keep_event_data_days``,
and at once for an erased member's events, ``data`` keeps those fields and drops
the rest. Everything the ledger, orders and reports use stays, and a replay of the
history through a draft program reads the same fields it always could.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron import hooks
from patron.events import repository
from patron.program.catalog import LINE_FIELDS, FieldType, event_fields
from patron.program.service import Program
from patron.program.versions import versions

LINE_KEYS = frozenset(LINE_FIELDS) | {"line_index"}
"""What a purchase line keeps: the fields rules read, and its position."""
BATCH = 1000


def pruned(data: Mapping[str, Any], fields: Mapping[str, FieldType] | None) -> dict[str, Any]:
    """``data`` with only the fields rules can read (``fields``: the type's; None for a
    type the program does not know, which keeps nothing). Lines keep their rule fields."""
    if fields is None:
        return {}
    kept = {name: value for name, value in data.items() if name in fields}
    if isinstance(kept.get("lines"), list):
        kept["lines"] = [{k: v for k, v in line.items() if k in LINE_KEYS}
                         if isinstance(line, dict) else line for line in kept["lines"]]
    return kept


def _declared(conn: Connection, program: Program) -> dict[str, dict[str, FieldType]]:
    return versions.compiled(conn, program, program.version).document.declared_fields()


def _prune_rows(conn: Connection, program: Program, rows: Sequence[Any]) -> int:
    declared = _declared(conn, program)
    changed = []
    for row in rows:
        kept = pruned(row.data or {}, event_fields(row.type, declared))
        if kept != row.data:
            changed.append((row.id, kept))
    repository.set_data(conn, changed)
    return len(changed)


def prune_members(conn: Connection, program: Program, member_ids: Sequence[int]) -> int:
    """Prune every event of these members now; returns how many changed."""
    return _prune_rows(conn, program, repository.event_data_of_members(conn, program.id,
                                                                       member_ids))


def on_member_erased(conn: Connection, happened: hooks.MemberErased) -> None:
    """An erased member's events keep only what rules read, whatever their age."""
    prune_members(conn, happened.program, happened.records)


def prune_received_before(conn: Connection, program: Program, cutoff: datetime, now: datetime,
                          batch: int = BATCH) -> tuple[bool, int]:
    """One batch of the retention sweep: the program's events after the last one pruned,
    in id order, up to the first received after ``cutoff``. Returns whether more
    may be waiting (the batch was full of old events) and how many events changed."""
    after = repository.pruned_through(conn, program.id)
    rows = repository.events_after(conn, program.id, after, batch)
    old = []
    for row in rows:
        if row.received_at > cutoff:
            break
        old.append(row)
    if not old:
        return False, 0
    changed = _prune_rows(conn, program, old)
    repository.set_pruned_through(conn, program.id, old[-1].id, now)
    return len(old) == batch, changed
