"""Importing history and members from files, through the same services as the API.

Events go through :func:`patron.flows.ingest.ingest` in batches (one
transaction each), so an imported purchase is recorded, resolved to a member
(enrolling unknown identities) and deduplicated exactly like one sent live.
Importing a file twice changes nothing: events are idempotent on their id and
members on their identities. Rows that cannot be taken are written, with the
reason and the original record, to a rejects file (JSONL) and never stop the run.

History older than the program (events dated before it was created — the
program's first version) is recorded for analytics and by default earns no
points: members did not know the program then, and awarding years of history
at once would create a liability nobody planned. ``earn_history=True`` awards
it like live purchases.
"""

from __future__ import annotations

import contextlib
import contextvars
import csv
import gc
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from patron import hooks
from patron.db import Database
from patron.errors import InvalidInput, PatronError
from patron.events.schemas import EventIn
from patron.flows.handlers import Made
from patron.flows.ingest import checked_data, ingest, made_of
from patron.flows import enrolment
from patron.imports import apart, domain, history
from patron.imports.history import record_history
from patron.imports.orders import plain_order
from patron.imports.domain import ColumnMap, InvalidRow, Locale
from patron.events.tables import events, order_lines, orders
from patron.ledger import repository as ledger_repository
from patron.ledger.tables import accounts, ledger_entries, lots
from patron.members import repository as member_repository
from patron.members import service as member_service
from patron.members.domain import refuse_future_birthdate
from patron.members.profile import with_display_name
from patron.members.schemas import MemberCreate, profile_row
from patron.members.tables import identities, members
from patron.program.service import Program
from patron.schemas_common import MAX_INT

Format = Literal["jsonl", "csv"]
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv",
           ".tsv": "csv", ".txt": "csv"}
MAX_BATCH = 1000
T = TypeVar("T")


class UnreadableFile(InvalidInput):
    code = "unreadable_file"
    title = "Import file cannot be read"


@dataclass
class ImportSummary:
    kind: str
    read: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    enrolled: int = 0
    points: int = 0
    seconds: float = 0.0
    rejects_file: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)


class Record(NamedTuple):
    """A record of the file (a tuple: one is made per line of files of millions)."""

    line: int
    raw: dict[str, Any] | None
    error: PatronError | None = None


class Rejects:
    """The rejects file, opened on the first reject only."""

    def __init__(self, path: Path | None, summary: ImportSummary) -> None:
        self.path, self.summary = path, summary
        self._file: IO[str] | None = None

    def add(self, record: Record, error: dict[str, Any], record_id: str | None = None) -> None:
        self.summary.rejected += 1
        code = str(error.get("code", "rejected"))
        self.summary.reasons[code] = self.summary.reasons.get(code, 0) + 1
        if self.path is None:
            return
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8")
            self.summary.rejects_file = str(self.path)
        entry = {"line": record.line, "id": record_id, "code": code,
                 "detail": error.get("detail"), "record": record.raw}
        self._file.write(json.dumps(entry, default=str) + "\n")

    def add_all(self, records: list[Record], error: dict[str, Any],
                record_id: str | None = None) -> None:
        """Refuse every record of one event (the rows of an order) for one reason."""
        for record in records:
            self.add(record, error, record_id)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def file_format(path: Path, given: str | None = None) -> Format:
    if given and given != "auto":
        if given not in ("jsonl", "csv"):
            raise UnreadableFile(f"unknown format {given!r}: jsonl or csv", field="format")
        return given  # type: ignore[return-value]
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise UnreadableFile(f"cannot tell the format of {path.name}: name it .jsonl or .csv, "
                             "or say --format", field="format")
    return found  # type: ignore[return-value]


def read_records(path: Path, fmt: Format, *, delimiter: str = ",") -> Iterator[Record]:
    """Records of a JSONL or CSV file with their line numbers; bad lines are records too."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise UnreadableFile(f"cannot open {path}: {exc.strerror}") from None
    with handle:
        if fmt == "jsonl":
            for number, text in enumerate(handle, start=1):
                if text.strip():
                    yield _json_record(number, text)
            return
        yield from _csv_records(handle, delimiter)


def _csv_records(handle: IO[str], delimiter: str) -> Iterator[Record]:
    """What ``csv.DictReader`` gives (blank rows skipped, missing cells None, extra cells
    under the key None), built without its per-row overhead."""
    reader = csv.reader(handle, delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    width = len(header)
    for cells in reader:
        if not cells:
            continue
        row: dict[Any, Any] = dict(zip(header, cells))
        if len(cells) > width:
            row[None] = cells[width:]
            yield Record(reader.line_num, row, InvalidRow("the row has more cells than "
                                                           "the header"))
            continue
        if len(cells) < width:
            row.update((key, None) for key in header[len(cells):])
        yield Record(reader.line_num, row)


def csv_header(path: Path, *, delimiter: str = ",") -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle, delimiter=delimiter), [])


def count_records(path: Path, fmt: Format) -> int:
    """Lines to expect, for a progress bar (a CSV's header is not one)."""
    with path.open("rb") as handle:
        lines = sum(1 for text in handle if text.strip())
    return max(lines - 1, 0) if fmt == "csv" else lines


def _json_record(number: int, text: str) -> Record:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Record(number, None, InvalidRow(f"not JSON: {exc.msg} at column {exc.colno}"))
    if not isinstance(value, dict):
        return Record(number, None, InvalidRow("a line must hold one JSON object"))
    return Record(number, value)


def _validation_problem(exc: ValidationError) -> dict[str, Any]:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    return InvalidInput(f"{where}: {first['msg']}", field=where).problem() | {
        "code": "validation_error"}


def _batches(records: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


@dataclass(frozen=True)
class Source:
    """What to read and how: the file's records and, for CSV, the column map."""

    records: Iterable[Record]
    fmt: Format
    columns: ColumnMap | None = None
    reread: Callable[[], Iterable[Record]] | None = None
    """How to read the records again from the start (a file's: opening it anew). A
    source that can is parsed in a process of its own (``patron.imports.apart``)."""

    @classmethod
    def file(cls, path: Path, fmt: Format, columns: ColumnMap | None = None, *,
             delimiter: str = ",") -> Source:
        def read() -> Iterator[Record]:
            return read_records(path, fmt, delimiter=delimiter)
        return cls(read(), fmt, columns, read)


def _groups(records: Iterable[Record], columns: ColumnMap | None) -> Iterator[list[Record]]:
    """The records of one event each: a JSONL line, a CSV row, or the adjacent CSV rows of
    one order. A row of an order that ended earlier comes alone, refused: grouping only
    neighbours keeps an import streaming, and the order ids already seen tell a split
    order from a new one."""
    group: list[Record] = []
    key: tuple[str | None, str] | None = None
    ended: set[tuple[str | None, str]] = set()
    order_key = domain.order_keys(columns) if columns is not None else None
    for record in records:
        found = (order_key(record.raw)
                 if order_key is not None and record.error is None and record.raw else None)
        if group and found != key:
            if key is not None:
                ended.add(key)
            yield group
            group = []
        if found is not None and found in ended:
            yield [Record(record.line, record.raw, domain.split_order(found))]
            continue
        group.append(record)
        key = found
        if found is None:
            yield group
            group = []
    if group:
        yield group


def _event_of(group: list[Record], source: Source, locale: Locale,
              repeats: Counter[str]) -> tuple[EventIn, bool]:
    """The event of a group's records, and whether its data is an order ``plain_order``
    takes (a CSV purchase's usually is: checked once here, for ``event_in`` and for
    ``history.admits``). The records are readable (``_parse`` refuses the others)."""
    if source.fmt == "csv":
        payload = domain.event_payload([record.raw or {} for record in group],
                                       source.columns or ColumnMap(), locale, repeats)
        plain = payload["type"] == "purchase" and plain_order(payload["data"])
        return event_in(payload, plain_data=plain), plain
    return event_in(group[0].raw), False


def event_in(payload: Any, *, plain_data: bool = False) -> EventIn:
    """``EventIn.model_validate(payload)``, with the data's check done here when it is plain
    text and numbers (what a CSV row or a typical JSONL line holds): walking a large order's
    lines through the schema's generic check took more time than anything else. Any other
    data goes through the schema, which also words the error. ``plain_data``: the caller
    found the data an order ``plain_order`` takes, which the data's check takes as it is."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if type(data) is not dict or not (plain_data or _plain(data)):
        return EventIn.model_validate(payload)
    event = EventIn.model_validate({**payload, "data": {}})
    event.data = data
    return event


def _scalar(value: Any) -> bool:
    """A JSON scalar the data's check (``schemas_common._clean_json``) takes unchanged:
    ASCII text without NUL, a 64-bit integer, a float, a boolean or null."""
    kind = type(value)
    if kind is str:
        return value.isascii() and "\x00" not in value
    if kind is int:
        return -MAX_INT <= value <= MAX_INT
    return value is None or kind is bool or kind is float


def _plain(data: dict[str, Any]) -> bool:
    """Whether ``data`` is scalars, lists of scalars or of flat objects, and flat objects,
    with plain keys: what the data's check would return as it is."""
    if not _flat_keys(data):
        return False
    for value in data.values():
        kind = type(value)
        if kind is list:
            for item in value:
                if not (_flat(item) if type(item) is dict else _scalar(item)):
                    return False
        elif not (_flat(value) if kind is dict else _scalar(value)):
            return False
    return True


_PLAIN_KEYS: set[tuple[Any, ...]] = set()
"""Key lists already found plain (an order's lines all have the same few)."""


def _flat_keys(item: dict[str, Any]) -> bool:
    keys = tuple(item)
    if keys in _PLAIN_KEYS:
        return True
    if not all(type(k) is str and k.isascii() and "\x00" not in k for k in keys):
        return False
    if len(_PLAIN_KEYS) < 256:
        _PLAIN_KEYS.add(keys)
    return True


def _flat(item: dict[str, Any]) -> bool:
    """An object of scalars (a line of an order), checked inline: this runs once per line."""
    if not _flat_keys(item):
        return False
    for value in item.values():
        kind = type(value)
        if kind is str:
            if not value.isascii() or "\x00" in value:
                return False
        elif kind is int:
            if not -MAX_INT <= value <= MAX_INT:
                return False
        elif not (value is None or kind is bool or kind is float):
            return False
    return True


def _locale(program: Program) -> Locale:
    s = program.settings
    return Locale(s.currency, s.minor_exponent, s.timezone)


def _record(conn: Connection, program: Program, events: list[EventIn],
            admitted: history.Admitted | None, now: datetime, actor: str,
            earn_history: bool, checked: dict[int, BaseModel] | None = None,
            made: list[Made] | None = None) -> list[Any]:
    """One batch: in bulk if it is history that earns nothing (``admitted``: what
    ``history.admits`` made of it), else ingest (``checked``: its events' payload
    models, built while the batch before was written; ``made``: what the parse made of
    each event for ingest)."""
    if admitted is not None:
        found = record_history(conn, program, events, now=now, actor=actor,
                               earn_history=earn_history, admitted=admitted)
        if found is not None:
            return found
    return ingest(conn, program, events, now=now, actor=actor, earn_before_start=earn_history,
                  checked=checked, made=made)


REFRESH_AFTER = 1000
"""An import that wrote at least this many events or members has the tables it filled
analysed at its end (``Database.refresh_statistics``): the first requests after it are
planned on what the tables now hold, not on what they held before."""
MEMBER_TABLES = (members, identities, accounts)
EVENT_TABLES = (*MEMBER_TABLES, events, orders, order_lines, ledger_entries, lots)


def import_events(db: Database, program: Program, source: Source, *,
                  now: Callable[[], datetime], actor: str, earn_history: bool = False,
                  batch_size: int = MAX_BATCH, rejects_path: Path | None = None,
                  progress: Callable[[int], None] | None = None,
                  bulk: bool = True, parse_apart: bool = True) -> ImportSummary:
    """Send a file's events through ingest, ``batch_size`` per transaction.

    ``read`` and ``rejected`` count records (a CSV order's rows each); ``imported`` and
    ``duplicates`` count events (an order once). A batch of history that earns nothing
    is written in bulk (``patron.imports.history``) with the same rows and outcomes;
    ``bulk=False`` sends every batch through ingest.

    The next batch is read and parsed while this one is written. A source that can be
    read again (``Source.file``) is parsed in a process of its own where the platform
    forks (``patron.imports.apart``; ``parse_apart=False`` keeps it in this one);
    otherwise, on PostgreSQL, this thread parses while a writer thread writes (the
    driver lets go of the interpreter while it waits for the server), and on SQLite,
    whose work is this process's own, parsing and writing take turns.
    Batches are still written one after another, in the file's order, and a batch is
    sent only once the one before it committed, so a failed batch stops the import
    with every batch before it written and none after; the rejects file lists the
    records in the order it did when nothing overlapped.
    """
    summary, started = ImportSummary("events"), time.perf_counter()
    rejects, locale = Rejects(rejects_path, summary), _locale(program)
    size = min(max(batch_size, 1), MAX_BATCH)
    apart_ = parse_apart and apart.FORKS and source.reread is not None
    reread = apart.Reread(source.reread) if source.reread is not None else None

    def produce() -> Iterator[_Batch]:
        return _prepared(source, program, locale, now, earn_history, bulk, size)

    def write(batch: _Batch) -> list[Any]:
        return db.transact(lambda conn: _record(
            conn, program, batch.events, batch.admitted, batch.at, actor,
            earn_history, batch.checked, batch.made)) if batch.events else []

    def records(group: list[Record] | apart.Span) -> list[Record]:  # a span: read again
        return group if type(group) is list else reread.records(group)  # type: ignore[union-attr]

    def finish(batch: _Batch, written: Future[list[Any]]) -> None:
        for group, problem, record_id in batch.refused:
            rejects.add_all(group, problem, record_id)
        for (group, event), outcome in zip(batch.parsed, written.result(), strict=True):
            if outcome.status == "processed":
                summary.imported += 1
                summary.enrolled += outcome.enrolled
                summary.points += outcome.points
            elif outcome.status == "duplicate":
                summary.duplicates += 1
            else:
                rejects.add_all(records(group), outcome.error or {}, event.id)
        if progress:
            progress(batch.rows)

    # what the process holds before the import (the program, the app) is left out of the
    # collector's passes while the import fills and empties batches, and is not copied
    # into the parsing process by the collector touching it there: its passes over
    # everything took a quarter of the parsing process's time. And the collector runs
    # every few batches rather than on its own: a batch is hundreds of thousands of
    # objects, made and dropped together and holding no cycles, which its passes kept
    # walking while they lived (a further quarter of both processes' time)
    collecting = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        with (_InTurn() if db.is_sqlite else
              ThreadPoolExecutor(max_workers=1, thread_name_prefix="patron-import")) as writer, \
                contextlib.closing(apart.batches(produce, _Batch, Record) if apart_ else
                                   produce()) as parsed:
            writing: tuple[_Batch, Future[list[Any]]] | None = None
            try:
                for number, batch in enumerate(parsed, start=1):
                    summary.read += batch.rows
                    if batch.admitted is None and batch.events:
                        # a batch for ingest: its orders' models built here, beside the
                        # writer, which waits on the server
                        batch.checked = checked_data(batch.events)
                    if writing is not None:
                        written, writing = writing, None
                        finish(*written)
                    # the writer sees the caller's context (a request's audit trail, its id)
                    writing = batch, writer.submit(contextvars.copy_context().run, write, batch)
                    if number % apart.COLLECT_EVERY == 0:
                        gc.collect()
            finally:  # the batch being written is counted even when reading the file failed
                if writing is not None:
                    finish(*writing)
        if summary.imported >= REFRESH_AFTER:
            db.refresh_statistics(EVENT_TABLES)
    finally:
        gc.unfreeze()
        if collecting:
            gc.enable()
        rejects.close()
        summary.seconds = time.perf_counter() - started
    return summary


def _prepared(source: Source, program: Program, locale: Locale, now: Callable[[], datetime],
              earn_history: bool, bulk: bool, size: int) -> Iterator[_Batch]:
    """The file's batches, parsed, each with its time (its events' ``received_at``) and,
    for bulk history, what ``history.admits`` made of it: all pure work, done before the
    batch reaches the writer, which is the slower."""
    repeats: Counter[str] = Counter()
    groups = _groups(source.records,
                     (source.columns or ColumnMap()) if source.fmt == "csv" else None)
    for chunk in _batches(groups, size):
        batch = _parse(chunk, source, locale, repeats)
        batch.at = now()
        if bulk and batch.events:
            batch.admitted = history.admits(program, batch.events, batch.at, earn_history,
                                            plain=batch.plain)
        if batch.admitted is None:  # for ingest, which would make these in the writer
            batch.made = [made_of(event, program.settings.currency) for event in batch.events]
        yield batch


class _InTurn(Executor):
    """An executor that runs what it is given at once, in the caller's thread."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed over as a thread's would be, on result()
            done.set_exception(exc)
        return done


@dataclass
class _Batch:
    """One transaction's worth of a file: its events parsed, and the records refused
    before any reached the database (with the problem and the event's id)."""

    rows: int
    parsed: list[tuple[list[Record] | apart.Span, EventIn]]
    """Each event with its records (a span of the file's lines where they stayed in the
    parsing process: ``patron.imports.apart``)."""
    refused: list[tuple[list[Record], dict[str, Any], str | None]]
    at: datetime | None = None
    """When the batch is recorded (its events' ``received_at``)."""
    admitted: history.Admitted | None = None
    """What ``history.admits`` made of it: None when ingest is to decide it."""
    plain: set[int] = field(default_factory=set)
    """The events (by their place in ``parsed``) whose data ``plain_order`` took."""
    checked: dict[int, BaseModel] | None = None
    """For ingest: the events' data as their payload models (``flows.ingest.checked_data``)."""
    made: list[Made] | None = None
    """For ingest: what it needs of each event and can make of it alone
    (``flows.ingest.made_of``), made while the parse has time."""

    @property
    def events(self) -> list[EventIn]:
        return [event for _, event in self.parsed]


def _parse(chunk: list[list[Record]], source: Source, locale: Locale,
           repeats: Counter[str]) -> _Batch:
    batch = _Batch(sum(len(group) for group in chunk), [], [])
    for group in chunk:
        unreadable = next((record.error for record in group if record.error is not None), None)
        if unreadable is not None:  # refused as it is: raised, its frames would hold the batch
            batch.refused.append((group, unreadable.problem(), (group[0].raw or {}).get("id")))
            continue
        try:
            event, plain = _event_of(group, source, locale, repeats)
        except PatronError as exc:
            batch.refused.append((group, exc.problem(), (group[0].raw or {}).get("id")))
        except ValidationError as exc:
            batch.refused.append((group, _validation_problem(exc),
                                  (group[0].raw or {}).get("id")))
        else:
            if plain:
                batch.plain.add(len(batch.parsed))
            batch.parsed.append((group, event))
    return batch


# --------------------------------------------------------------------------- members

@dataclass
class MemberRow:
    record: Record
    payload: MemberCreate
    joined_at: datetime | None
    identities: list[tuple[str, str, str | None]] = field(default_factory=list)

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [(kind, value) for kind, value, _ in self.identities]


def _member_of(record: Record, source: Source, locale: Locale, now: datetime) -> MemberRow:
    if record.error is not None:
        raise record.error
    if source.fmt == "csv":
        payload, joined_at = domain.member_payload(record.raw or {}, source.columns or ColumnMap(),
                                                   locale)
    else:
        payload = dict(record.raw or {})
        joined = payload.pop("joined_at", None)
        joined_at = domain.parse_time(str(joined), None, locale.timezone, "joined_at") \
            if joined else None
    if joined_at is not None and joined_at > now:
        raise InvalidRow(f"joined_at {joined_at.isoformat()} is in the future", field="joined_at")
    member = MemberCreate.model_validate(payload)
    refuse_future_birthdate(member.profile.birthdate, now, ZoneInfo(locale.timezone))
    return MemberRow(record, member, joined_at)


def _enrol_members(conn: Connection, program: Program, rows: list[MemberRow], now: datetime
                   ) -> list[tuple[MemberRow, str, dict[str, Any] | None]]:
    """Enrol the rows whose identities are all new; a row whose identities all belong
    to one member already (or to a row before it) is a duplicate; one that mixes is
    refused.

    The new members are written in bulk (``_enrol_new``), in the order of their rows,
    except that a row naming a referral code is enrolled alone, as ``POST /members``
    would (an unknown code refuses it). Returns what happened to each row and changes
    no counter, since the transaction may run again after a lost race.
    """
    results: list[tuple[MemberRow, str, dict[str, Any] | None]] = []
    usable: list[MemberRow] = []
    for row in rows:
        try:
            row.identities = member_service.normalised(program, row.payload.identities)
            usable.append(row)
        except PatronError as exc:
            results.append((row, "rejected", exc.problem()))
    owners: dict[tuple[str, str], int] = member_repository.members_by_identity(
        conn, program.id, [key for row in usable for key in row.keys])
    waiting: list[MemberRow] = []
    placed: dict[int, int] = {}  # a row waiting to be enrolled (as -1 - n) -> its member
    later: list[MemberRow] = []
    for row in usable:
        found = {owners.get(key) for key in row.keys}
        if found != {None}:
            later.append(row)
            continue
        if row.payload.referral_code is not None:
            placed.update(_enrol_new(conn, program, waiting, now, len(placed)))
            waiting = []
            member = enrolment.create_member(conn, program, row.payload, row.joined_at or now,
                                             actor="import")
            owners.update({key: member.id for key in row.keys})
        else:
            waiting.append(row)
            owners.update({key: -1 - len(placed) - len(waiting) + 1 for key in row.keys})
        results.append((row, "imported", None))
    placed.update(_enrol_new(conn, program, waiting, now, len(placed)))
    for row in later:
        found = {placed.get(o, o) if o is not None and o < 0 else o
                 for o in (owners.get(key) for key in row.keys)}
        if len(found) == 1:
            results.append((row, "duplicate", None))
        else:
            owner = next(o for o in found if o is not None)
            results.append((row, "rejected", member_service.IdentityTaken(
                f"some of the row's identities already belong to member {owner}",
                member_id=owner).problem()))
    return results


def _enrol_new(conn: Connection, program: Program, rows: list[MemberRow], now: datetime,
               first: int) -> dict[int, int]:
    """Enrol rows whose identities nobody has, in one go: the members with their
    identities, their points accounts, and ``MembersEnrolled`` for all of them (so
    matching runs). Each joined when its row says, else ``now``; returns each row's
    placeholder (``-1 - first - n``) with its member id."""
    if not rows:
        return {}
    joined = [row.joined_at or now for row in rows]
    profiles = [dict(with_display_name(profile_row(row.payload.profile)),
                     consents=member_service.enrolment_consents(row.payload, actor="import",
                                                                now=at))
                for row, at in zip(rows, joined)]
    ids = member_service.enrol(conn, program, now, profiles, [r.identities for r in rows], joined)
    for at, group in itertools.groupby(zip(ids, joined), key=lambda pair: pair[1]):
        ledger_repository.open_accounts(conn, program.id, [m for m, _ in group], at)
    hooks.emit(conn, hooks.MembersEnrolled(program, tuple(
        hooks.Enrolment(member_id, at, profile.get("join_channel"), None)
        for member_id, at, profile in zip(ids, joined, profiles)), strict=True))
    return {-1 - first - n: member_id for n, member_id in enumerate(ids)}


def import_members(db: Database, program: Program, source: Source, *,
                   now: Callable[[], datetime], batch_size: int = 500,
                   rejects_path: Path | None = None,
                   progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Enrol a file's members, ``batch_size`` per transaction.

    A ``joined_at`` (CSV column or JSONL key) becomes the member's enrolment
    time, so tenure, join-month growth and cohorts survive a migration.
    """
    summary, started = ImportSummary("members"), time.perf_counter()
    rejects, locale = Rejects(rejects_path, summary), _locale(program)
    try:
        for chunk in _batches(source.records, min(max(batch_size, 1), MAX_BATCH)):
            summary.read += len(chunk)
            at = now()
            rows: list[MemberRow] = []
            for record in chunk:
                try:
                    rows.append(_member_of(record, source, locale, at))
                except PatronError as exc:
                    rejects.add(record, exc.problem())
                except ValidationError as exc:
                    rejects.add(record, _validation_problem(exc))
            if rows:
                done = db.transact(lambda conn: _enrol_members(conn, program, rows, at))
                for row, status, problem in sorted(done, key=lambda d: d[0].record.line):
                    if status == "imported":
                        summary.imported += 1
                    elif status == "duplicate":
                        summary.duplicates += 1
                    else:
                        rejects.add(row.record, problem or {})
            if progress:
                progress(len(chunk))
        if summary.imported >= REFRESH_AFTER:
            db.refresh_statistics(MEMBER_TABLES)
    finally:
        rejects.close()
        summary.seconds = time.perf_counter() - started
    return summary
