"""``patron import events|members FILE``: history and members from JSONL or CSV files."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from patron.clock import SystemClock
from patron.db import Database
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.imports import domain, service
from patron.imports.service import ImportSummary, Source
from patron.program.service import Program, get_program_by_slug

app = typer.Typer(help="Import history and members from JSONL or CSV files.",
                  no_args_is_help=True)
console = Console(stderr=True)


class FileFormat(StrEnum):
    AUTO = "auto"
    JSONL = "jsonl"
    CSV = "csv"


class MoneyUnit(StrEnum):
    MINOR = "minor"
    MAJOR = "major"


FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="JSONL (one payload a line) or CSV file")]
ProgramOpt = Annotated[str, typer.Option(help="Program slug")]
FormatOpt = Annotated[FileFormat, typer.Option("--format", help="Default: from the file name")]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", help="CSV: FIELD=COLUMN, e.g. --map external_id=customer or "
                   "--map line.amount=price (repeatable)")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="CSV: FIELD=VALUE for every row, e.g. --set type=purchase (repeatable)")]
MoneyOpt = Annotated[MoneyUnit, typer.Option(
    "--money", help="CSV: amounts in minor units (cents) or major units (12.50)")]
TimeFormatOpt = Annotated[str | None, typer.Option(
    "--time-format", help="CSV: strptime format of timestamps, e.g. %Y%m%d (default ISO 8601); "
                          "times without an offset are in the program's timezone")]
DateFormatOpt = Annotated[str | None, typer.Option(
    "--date-format", help="CSV: strptime format of birthdates, e.g. %d/%m/%Y (default ISO "
                          "8601, e.g. 1990-05-01); --time-format is for joined_at")]
DelimiterOpt = Annotated[str, typer.Option(help="CSV: cell delimiter")]
RejectsOpt = Annotated[Path | None, typer.Option(
    help="Where rejected records go, with reasons (default: FILE.rejects.jsonl)")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def _open(db: str | None, slug: str) -> tuple[Database, Program]:
    database = open_migrated(db)
    return database, database.read(lambda conn: get_program_by_slug(conn, slug))


def _source(file: Path, fmt: FileFormat, kind: str, maps: list[str] | None,
            sets: list[str] | None, money: MoneyUnit, time_format: str | None,
            delimiter: str, date_format: str | None = None) -> Source:
    found = service.file_format(file, fmt.value)
    if found == "jsonl":
        if maps or sets:
            raise domain.InvalidMapping("--map and --set apply to CSV files only")
        return Source.file(file, found)
    columns = domain.mapping(kind, maps or (), sets or (), money=money.value,  # type: ignore[arg-type]
                             time_format=time_format, date_format=date_format)
    domain.check_columns(service.csv_header(file, delimiter=delimiter), columns, kind)  # type: ignore[arg-type]
    return Source.file(file, found, columns, delimiter=delimiter)


def _with_progress(file: Path, fmt: str, work: Callable[[Callable[[int], None]], ImportSummary]
                   ) -> ImportSummary:
    total = service.count_records(file, fmt)  # type: ignore[arg-type]
    with Progress(TextColumn(f"importing {file.name}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as bar:
        task = bar.add_task("records", total=total)
        return work(lambda n: bar.advance(task, n))


def _report(summary: ImportSummary) -> None:
    table = Table("", summary.kind, title="import summary", title_justify="left")
    rate = summary.read / summary.seconds if summary.seconds else 0
    rows = [("read", summary.read), ("imported", summary.imported),
            ("skipped as duplicates", summary.duplicates), ("rejected", summary.rejected)]
    if summary.kind == "events":
        rows += [("members enrolled", summary.enrolled), ("points awarded", summary.points)]
    rows += [("seconds", f"{summary.seconds:.1f} ({rate:,.0f} records/s)")]
    for name, value in rows:
        table.add_row(name, str(value))
    for code, count in sorted(summary.reasons.items()):
        table.add_row(f"  rejected: {code}", str(count))
    console.print(table)
    if summary.rejects_file:
        console.print(f"rejected records and reasons: [bold]{summary.rejects_file}[/bold]")


def _finish(summary: ImportSummary) -> None:
    _report(summary)
    if summary.rejected:
        raise typer.Exit(1)


def _fail(error: PatronError) -> None:
    console.print(f"[red]error[/red] {escape(f'[{error.code}] {error.detail}')}")
    raise typer.Exit(2)


EVENTS_HELP = (
    "Send historical events through the event pipeline, in batches, idempotently.\n\n"
    "JSONL lines are events as POST /api/v1/events takes them. CSV rows are mapped to the "
    "fields id, type, occurred_at, channel, member_id (or external_id, email, phone, card), "
    "order_id, currency, total, line.sku, line.category, line.quantity, line.amount (sku, "
    "category and quantity also do) and data.NAME.\n\n"
    "Adjacent purchase rows with the same order_id (and id, if mapped) are one purchase, a "
    "line a row; its total is the sum of the line amounts unless total is mapped. A row of "
    "an order that ended rows earlier is rejected (split_order). Without an id, a purchase's "
    "id is order:ORDER_ID, any other event's comes from its content, so the same rows "
    "imported again, under any file name, are skipped. Rows are read and rejected one by "
    "one; an order is imported or skipped once.\n\n"
    "Events dated before the program was created are recorded for analytics and earn no "
    "points unless --earn-history is given; recorded so, they may be of a custom type the "
    "current program version declares. Exits 1 if any record was rejected.")
MEMBERS_HELP = (
    "Enrol members, skipping those whose identities are already known.\n\n"
    "JSONL lines are members as POST /api/v1/members takes them, plus an optional "
    "joined_at. CSV fields: external_id, email, phone, card, name, birthdate, region, "
    "join_channel, joined_at, attributes.NAME and consents.PURPOSE (yes/no). joined_at "
    "becomes the member's enrolment time (read with --time-format); birthdate is a date "
    "(ISO 8601 or --date-format). Exits 1 if any record was rejected.")


@app.command("events", help=EVENTS_HELP)
def import_events(file: FileArg, program: ProgramOpt, format: FormatOpt = FileFormat.AUTO,
                  map: MapOpt = None, set: SetOpt = None, money: MoneyOpt = MoneyUnit.MINOR,
                  time_format: TimeFormatOpt = None, delimiter: DelimiterOpt = ",",
                  batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 1000,
                  earn_history: Annotated[bool, typer.Option(
                      help="Award points for events dated before the program was created "
                           "(off: such history is recorded for analytics only)")] = False,
                  rejects: RejectsOpt = None, db: DbOpt = None) -> None:

    try:
        database, found = _open(db, program)
        source = _source(file, format, "event", map, set, money, time_format, delimiter)
        summary = _with_progress(file, source.fmt, lambda step: service.import_events(
            database, found, source, now=SystemClock().now, actor="import:cli",
            earn_history=earn_history, batch_size=batch_size,
            rejects_path=rejects or file.with_name(file.name + ".rejects.jsonl"),
            progress=step))
    except PatronError as error:
        _fail(error)
    _finish(summary)


@app.command("members", help=MEMBERS_HELP)
def import_members(file: FileArg, program: ProgramOpt, format: FormatOpt = FileFormat.AUTO,
                   map: MapOpt = None, set: SetOpt = None, time_format: TimeFormatOpt = None,
                   date_format: DateFormatOpt = None, delimiter: DelimiterOpt = ",",
                   batch_size: Annotated[int, typer.Option(min=1, max=1000)] = 500,
                   rejects: RejectsOpt = None, db: DbOpt = None) -> None:

    try:
        database, found = _open(db, program)
        source = _source(file, format, "member", map, set, MoneyUnit.MINOR, time_format,
                         delimiter, date_format)
        summary = _with_progress(file, source.fmt, lambda step: service.import_members(
            database, found, source, now=SystemClock().now, batch_size=batch_size,
            rejects_path=rejects or file.with_name(file.name + ".rejects.jsonl"),
            progress=step))
    except PatronError as error:
        _fail(error)
    _finish(summary)
