from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, update

from patron.db.engine import rows_of
from patron.program.tables import program_versions, programs


def insert_program(conn: Connection, *, slug: str, name: str, settings: dict[str, Any],
                   now: datetime) -> int:
    return conn.execute(insert(programs).values(
        slug=slug, name=name, settings=settings, current_version=0, created_at=now
    ).returning(programs.c.id)).scalar_one()


def program_by_slug(conn: Connection, slug: str) -> Any:
    return conn.execute(select(programs).where(programs.c.slug == slug)).first()


Bound = tuple[Any, dict[str, Any]]
"""An expression built once, with the values of its parameters."""

_BY_ID: dict[tuple[bool, int, int], tuple[Any, Any, Any]] = {}
"""``program_by_id``'s statements, by lock and the ids of ``extra`` and ``guard`` (which
are built once): (extra, guard, statement). Each keeps its ``extra`` and ``guard``, so
their ids are not reused while it is here."""


def program_by_id(conn: Connection, program_id: int, *, lock: bool = False,
                  extra: Bound | None = None, guard: Bound | None = None) -> Any:
    """The program's row; ``extra``: one more column, labelled ``extra``; ``guard``: a
    condition that must also hold, else no row.

    Every API request reads its program (and, in the same statement, its key's revocation
    and a member path's merge), so the statement is built once per shape."""
    extra_element, extra_params = extra or (None, {})
    guard_element, guard_params = guard or (None, {})
    key = (lock, id(extra_element), id(guard_element))
    built = _BY_ID.get(key)
    if built is None:
        query = select(programs).where(programs.c.id == bindparam("by_program_id"))
        if guard_element is not None:
            query = query.where(guard_element)
        if extra_element is not None:
            query = query.add_columns(extra_element.label("extra"))
        if lock:
            query = query.with_for_update()
        built = _BY_ID[key] = (extra_element, guard_element, query)
    found = rows_of(conn, built[2], {"by_program_id": program_id, **extra_params,
                                     **guard_params})
    return found[0] if found else None


def set_current(conn: Connection, program_id: int, version: int, name: str,
                settings: dict[str, Any]) -> None:
    conn.execute(update(programs).where(programs.c.id == program_id).values(
        current_version=version, name=name, settings=settings))


def insert_version(conn: Connection, **values: Any) -> None:
    conn.execute(insert(program_versions).values(**values))


def version_row(conn: Connection, program_id: int, version: int) -> Any:
    return conn.execute(select(program_versions).where(
        program_versions.c.program_id == program_id,
        program_versions.c.version == version)).first()


def version_index(conn: Connection, program_id: int) -> list[Any]:
    """Every version's number, publication time and checksum, oldest first."""
    return list(conn.execute(
        select(program_versions.c.version, program_versions.c.published_at,
               program_versions.c.checksum)
        .where(program_versions.c.program_id == program_id)
        .order_by(program_versions.c.version)))


def version_page(conn: Connection, program_id: int, before: int | None, limit: int) -> list[Any]:
    query = select(program_versions.c.version, program_versions.c.checksum,
                   program_versions.c.published_at, program_versions.c.published_by,
                   program_versions.c.note).where(program_versions.c.program_id == program_id)
    if before is not None:
        query = query.where(program_versions.c.version < before)
    return list(conn.execute(query.order_by(program_versions.c.version.desc()).limit(limit)))


def version_count(conn: Connection, program_id: int) -> int:
    return conn.execute(select(func.count()).select_from(program_versions).where(
        program_versions.c.program_id == program_id)).scalar_one()


def all_program_ids(conn: Connection) -> list[int]:
    return list(conn.execute(select(programs.c.id).order_by(programs.c.id)).scalars())
