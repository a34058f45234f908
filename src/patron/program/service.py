"""Programs: one installation runs several brands' programs, each isolated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict, InvalidInput, NotFound
from patron.program import repository
from patron.program.domain import ProgramSettings, starter_document
from patron.program.document import ProgramDocument
from patron.program.versions import publish

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


class ProgramNotFound(NotFound):
    code = "program_not_found"


class ProgramExists(Conflict):
    code = "program_exists"


@dataclass(frozen=True)
class Program:
    id: int
    slug: str
    name: str
    settings: ProgramSettings
    created_at: datetime
    version: int = 1
    """The current program version's number."""


_BUILT: dict[tuple[Any, ...], tuple[Any, Program]] = {}
"""Programs built from their rows, by the row's values: a row read again with the same
values (a publish moves ``current_version``) gives the same ``Program`` without
validating its settings again. Never stale: the row is read each time."""


def _program(row: Any) -> Program:
    key = (row.id, row.current_version, row.slug, row.name, row.created_at)
    built = _BUILT.get(key)
    if built is not None and built[0] == row.settings:
        return built[1]
    program = Program(row.id, row.slug, row.name, ProgramSettings.model_validate(row.settings),
                      row.created_at, row.current_version)
    if len(_BUILT) >= 1024:
        _BUILT.clear()
    _BUILT[key] = (row.settings, program)
    return program


def create_program(conn: Connection, *, slug: str, name: str, settings: ProgramSettings,
                   now: datetime, document: ProgramDocument | None = None,
                   source: str | None = None, earn_rate: Decimal = Decimal(1),
                   actor: str = "system") -> Program:
    """A new program with version 1 published: ``document``, or a starter document
    earning ``earn_rate`` points per currency unit under ``settings``."""
    if not SLUG.match(slug):
        raise InvalidInput("a program slug is 2-63 lower-case letters, digits or dashes",
                           field="slug")
    if repository.program_by_slug(conn, slug):
        raise ProgramExists(f"program {slug!r} already exists")
    document = document or starter_document(name, settings, earn_rate)
    program_id = repository.insert_program(conn, slug=slug, name=document.name,
                                           settings=document.settings.model_dump(mode="json"),
                                           now=now)
    program = Program(program_id, slug, document.name, document.settings, now, 0)
    publish(conn, program, document, source=source, actor=actor, now=now)
    return get_program(conn, program_id)


def get_program(conn: Connection, program_id: int, *,
                guard: repository.Bound | None = None) -> Program:
    """The program; ``guard``, a condition the same statement checks (ProgramNotFound
    when it does not hold), built once and given with its parameters."""
    row = repository.program_by_id(conn, program_id, guard=guard)
    if row is None:
        raise ProgramNotFound(f"program {program_id} does not exist")
    return _program(row)


def get_program_with(conn: Connection, program_id: int, extra: repository.Bound, *,
                     guard: repository.Bound | None = None) -> tuple[Program, Any]:
    """``get_program`` and the value of ``extra`` (a scalar subquery built once, with its
    parameters) in one statement."""
    row = repository.program_by_id(conn, program_id, extra=extra, guard=guard)
    if row is None:
        raise ProgramNotFound(f"program {program_id} does not exist")
    return _program(row), row.extra


def get_program_by_slug(conn: Connection, slug: str) -> Program:
    row = repository.program_by_slug(conn, slug)
    if row is None:
        raise ProgramNotFound(f"program {slug!r} does not exist")
    return _program(row)
