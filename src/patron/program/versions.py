"""Publishing program documents, and finding the version an event is evaluated by.

Publishing stores the validated document as an immutable, numbered version and
makes it current from that moment. An event is evaluated by the version that was
current at its ``occurred_at`` (events dated before version 1 use version 1), so
a late POS upload earns what it would have earned on the day, and every award
names the version that gave it. Publishing the current document again is a
no-op that returns the current version, so retries are safe.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict, NotFound
from patron.program import repository
from patron.program.compiled import CompiledProgram, compile_program
from patron.program.document import ProgramDocument


class VersionNotFound(NotFound):
    code = "program_version_not_found"
    title = "Program version not found"


class CurrencyChange(Conflict):
    code = "currency_change"
    title = "A program cannot change currency"


@dataclass(frozen=True)
class ProgramVersion:
    version: int
    checksum: str
    published_at: datetime
    published_by: str
    note: str | None
    document: ProgramDocument | None = None
    source: str | None = None


def document_json(document: ProgramDocument) -> dict[str, Any]:
    """The document as stored: nulls kept (``expiry.days: null`` means "never expire")."""
    data = document.model_dump(mode="json", by_alias=True)
    if data.get("$schema") is None:
        data.pop("$schema", None)
    return data


def checksum(document: ProgramDocument) -> str:
    canonical = json.dumps(document_json(document), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _checksum_today(stored: dict[str, Any]) -> str | None:
    """The stored document's checksum as the current model reads it: a version
    published before a section existed equals the same document published now with
    that section at its defaults."""
    try:
        return checksum(ProgramDocument.model_validate(stored))
    except ValueError:
        return None


def publish(conn: Connection, program: Any, document: ProgramDocument, *, actor: str,
            now: datetime, source: str | None = None, note: str | None = None
            ) -> tuple[ProgramVersion, bool]:
    """Store ``document`` as the next version and make it current.

    Returns the version and whether it is new (False: the document equals the
    current version, nothing was written).
    """
    row = repository.program_by_id(conn, program.id, lock=True)
    digest = checksum(document)
    if row.current_version:
        current = repository.version_row(conn, program.id, row.current_version)
        if digest in (current.checksum, _checksum_today(current.document)):
            return _version(current, with_document=True), False
        old_currency = current.document["settings"].get("currency", "USD")
        if document.settings.currency != old_currency:
            raise CurrencyChange(
                f"the program counts in {old_currency}; balances, orders and rules are in "
                f"that currency, so a version cannot switch to {document.settings.currency}",
                field="settings.currency")
    number = row.current_version + 1
    repository.insert_version(conn, program_id=program.id, version=number,
                              document=document_json(document), source=source,
                              checksum=digest, published_at=now, published_by=actor,
                              note=note)
    repository.set_current(conn, program.id, number, document.name,
                           document.settings.model_dump(mode="json"))
    published = ProgramVersion(number, digest, now, actor, note, document, source)
    return published, True


def _version(row: Any, *, with_document: bool) -> ProgramVersion:
    document = ProgramDocument.model_validate(row.document) if with_document else None
    return ProgramVersion(row.version, row.checksum, row.published_at, row.published_by,
                          row.note, document, row.source if with_document else None)


def get_version(conn: Connection, program: Any, version: int | None = None) -> ProgramVersion:
    """One version with its document; the current one by default."""
    number = program.version if version is None else version
    row = repository.version_row(conn, program.id, number)
    if row is None:
        raise VersionNotFound(f"program version {number} does not exist", version=number)
    return _version(row, with_document=True)


def list_versions(conn: Connection, program: Any, before: int | None,
                  limit: int) -> list[ProgramVersion]:
    """Newest first, without documents."""
    return [_version(row, with_document=False)
            for row in repository.version_page(conn, program.id, before, limit)]


class _Index:
    """A program's versions: numbers and publication times, as of one current version."""

    def __init__(self, current: int, rows: list[Any]) -> None:
        self.current = current
        self.starts = [row.published_at for row in rows]
        self.numbers = [row.version for row in rows]
        self.checksums = {row.version: row.checksum for row in rows}

    def number_at(self, at: datetime) -> int:
        position = bisect.bisect_right(self.starts, at) - 1
        return self.numbers[max(position, 0)]


class VersionCache:
    """Compiled versions, shared by every request of the process.

    Versions never change once published, so a compiled version is cached by
    (database, program, version, checksum); the index of versions is reloaded when
    the program row names a newer current version than the cached index knows.
    """

    def __init__(self, size: int = 64) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[tuple[str, int], _Index] = {}
        self._compiled: OrderedDict[tuple[str, int, int, str], CompiledProgram] = OrderedDict()
        self._size = size

    def _index(self, conn: Connection, program: Any) -> tuple[str, _Index]:
        database = str(conn.engine.url)
        key = (database, program.id)
        index = self._indexes.get(key)
        if index is None or index.current != program.version:
            index = _Index(program.version, repository.version_index(conn, program.id))
            if not index.numbers:
                raise VersionNotFound(f"program {program.id} has no published version")
            with self._lock:
                self._indexes[key] = index
        return database, index

    def version_at(self, conn: Connection, program: Any, at: datetime
                   ) -> tuple[int, CompiledProgram]:
        return self.resolver(conn, program)(at)

    def resolver(self, conn: Connection, program: Any
                 ) -> Callable[[datetime], tuple[int, CompiledProgram]]:
        """``at -> (version, compiled)`` for many events of one batch."""
        database, index = self._index(conn, program)
        known: dict[int, CompiledProgram] = {}

        def at(moment: datetime) -> tuple[int, CompiledProgram]:
            number = index.number_at(moment)
            compiled = known.get(number)
            if compiled is None:
                compiled = known[number] = self.compiled(conn, program, number, database, index)
            return number, compiled
        return at

    def compiled(self, conn: Connection, program: Any, number: int,
                 database: str | None = None, index: _Index | None = None) -> CompiledProgram:
        if database is None or index is None:
            database, index = self._index(conn, program)
        key = (database, program.id, number, index.checksums[number])
        with self._lock:
            found = self._compiled.get(key)
            if found is not None:
                self._compiled.move_to_end(key)
                return found
        compiled = compile_program(get_version(conn, program, number).document)
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > self._size:
                self._compiled.popitem(last=False)
        return compiled


versions = VersionCache()
