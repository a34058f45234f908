"""``patron tags``, ``patron features`` and ``patron segments``.

Registered in ``patron.cli.main``.
"""

from __future__ import annotations

import csv
import getpass
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Connection

from patron.clock import SystemClock
from patron.config import get_settings
from patron.db import create_database
from patron.errors import InvalidInput, PatronError
from patron.members import repository as members_repository
from patron.members.domain import normalise_identity, parse_identity_query
from patron.program.document import TAG_NAME
from patron.program.repository import all_program_ids
from patron.program.service import Program, get_program, get_program_by_slug
from patron.schemas_common import plain_id
from patron.segments import jobs, service
from patron.segments.schemas import SegmentCreate

tags_app = typer.Typer(help="Member tags: add, remove, import.", no_args_is_help=True)
features_app = typer.Typer(help="Materialised member features.", no_args_is_help=True)
segments_app = typer.Typer(help="Segments: dynamic (a condition) or static (a list).",
                           no_args_is_help=True)
console = Console()
T = TypeVar("T")

ProgramOpt = Annotated[str, typer.Option("--program", help="Program slug")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]
IMPORT_CHUNK = 500


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


def _run(db: str | None, slug: str, work: Callable[[Connection, Program], T],
         write: bool = True) -> T:
    database = create_database(db or get_settings().database_url)

    def job(conn: Connection) -> T:
        return work(conn, get_program_by_slug(conn, slug))
    try:
        return database.transact(job) if write else database.read(job)
    except PatronError as error:
        console.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
        raise typer.Exit(2) from None


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


@tags_app.command("add")
def tags_add(member: int, tag: str, program: ProgramOpt, db: DbOpt = None) -> None:
    """Tag a member by hand (nothing changes if it already carries the tag)."""
    now = SystemClock().now()
    _run(db, program, lambda conn, p: service.add_tag(conn, p, member, _tag(tag), _actor(),
                                                      now))
    console.print(f"member {member} tagged [bold]{escape(tag)}[/bold]")


@tags_app.command("remove")
def tags_remove(member: int, tag: str, program: ProgramOpt, db: DbOpt = None) -> None:
    """Remove a manual tag from a member."""
    _run(db, program, lambda conn, p: service.remove_tag(conn, p, member, tag))
    console.print(f"tag [bold]{escape(tag)}[/bold] removed from member {member}")


def _tag(tag: str) -> str:
    if not re.match(TAG_NAME, tag):
        raise InvalidInput(f"{tag!r} is not a tag name (lower-case letters, digits, _:.-)",
                           field="tag")
    return tag


@tags_app.command("import")
def tags_import(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
                program: ProgramOpt, db: DbOpt = None) -> None:
    """Tag members from a CSV with a ``tag`` column and ``member_id`` or ``identity``
    (TYPE:VALUE); rows that cannot be applied are listed, the others applied."""
    with file.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rejects: list[tuple[int, str]] = []
    actor, now = _actor(), SystemClock().now()
    with _progress() as progress:
        task = progress.add_task("tagging", total=len(rows))
        for start in range(0, len(rows), IMPORT_CHUNK):
            chunk = list(enumerate(rows[start:start + IMPORT_CHUNK], start=start + 2))
            rejects += _run(db, program, lambda conn, p, c=chunk: _import_chunk(
                conn, p, c, actor, now))
            progress.advance(task, len(chunk))
    console.print(f"{len(rows) - len(rejects):,} rows applied, {len(rejects):,} rejected")
    for line, reason in rejects[:50]:
        console.print(f"  line {line}: {escape(reason)}")


def _import_chunk(conn: Connection, program: Program, chunk: list[tuple[int, dict[str, Any]]],
                  actor: str, now: Any) -> list[tuple[int, str]]:
    rejects = []
    for line, row in chunk:
        try:
            member_id = _member_of(conn, program, row)
            service.add_tag(conn, program, member_id, _tag((row.get("tag") or "").strip()),
                            actor, now)
        except PatronError as error:
            rejects.append((line, error.detail))
    return rejects


def _member_of(conn: Connection, program: Program, row: dict[str, Any]) -> int:
    raw = (row.get("member_id") or "").strip()
    if raw:
        member_id = plain_id(raw)
        if member_id is None:
            raise InvalidInput(f"member_id {raw!r} is not a member id", field="member_id")
        return member_id
    kind, value = parse_identity_query((row.get("identity") or "").strip())
    key = (kind.value, normalise_identity(kind, value, program.settings.default_region))
    found = members_repository.members_by_identity(conn, program.id, [key])
    if key not in found:
        raise InvalidInput(f"no member has identity {row.get('identity')!r}", field="identity")
    return found[key]


@features_app.command("refresh")
def features_refresh(program: Annotated[str | None, typer.Option(
        "--program", help="Program slug (default: every program)")] = None,
        db: DbOpt = None) -> None:
    """Recompute member features, then rule tags and dynamic segments."""
    database = create_database(db or get_settings().database_url)
    ids = ([database.read(lambda conn: get_program_by_slug(conn, program).id)]
           if program else database.read(all_program_ids))
    now = SystemClock().now()
    with _progress() as progress:
        for program_id in ids:
            task = progress.add_task(f"program {program_id}: members", total=None)

            def advance(n: int, total: int, task: Any = task) -> None:
                progress.update(task, total=total, advance=n)
            done = database.transact(lambda conn, p=program_id: jobs.refresh_program(
                conn, get_program(conn, p), now, advance))
            progress.update(task, total=max(done.members, 1), completed=max(done.members, 1))
            console.print(f"program {program_id}: {done.members:,} members, rule tags "
                          f"+{done.tags_added} -{done.tags_removed}, "
                          f"{done.segments} segments refreshed")


@segments_app.command("list")
def segments_list(program: ProgramOpt, db: DbOpt = None) -> None:
    """Segments with their size now."""
    items = _run(db, program, service.list_segments, write=False)
    table = Table("key", "name", "kind", "members", "condition", "refreshed")
    for s in items:
        table.add_row(s["key"], escape(s["name"]), s["kind"], f"{s['members']:,}",
                      escape(s["condition"] or ""), str(s["refreshed_at"] or "never"))
    console.print(table)


@segments_app.command("create")
def segments_create(key: str, program: ProgramOpt,
                    name: Annotated[str, typer.Option()],
                    condition: Annotated[str | None, typer.Option(
                        help="CEL over member.features and member.tags (dynamic)")] = None,
                    description: Annotated[str | None, typer.Option()] = None,
                    db: DbOpt = None) -> None:
    """Define a dynamic segment (with --condition) or a static one (without)."""
    try:
        payload = SegmentCreate(key=key, name=name, description=description,
                                kind="dynamic" if condition else "static", condition=condition)
    except ValueError as error:
        console.print(f"[red]error[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    now = SystemClock().now()
    made = _run(db, program, lambda conn, p: service.create_segment(conn, p, payload, _actor(),
                                                                    now))
    console.print(f"segment [bold]{made['key']}[/bold] ({made['kind']}) saved")


@segments_app.command("preview")
def segments_preview(condition: str, program: ProgramOpt, db: DbOpt = None) -> None:
    """How many members a condition selects now (nothing is saved)."""
    now = SystemClock().now()
    found = _run(db, program, lambda conn, p: service.preview(conn, p, condition, now),
                 write=False)
    console.print(f"{found['members']:,} members; first: "
                  f"{', '.join(str(m) for m in found['sample']) or '-'}")


@segments_app.command("refresh")
def segments_refresh(program: ProgramOpt, key: Annotated[str | None, typer.Argument()] = None,
                     db: DbOpt = None) -> None:
    """Refresh one dynamic segment, or all active ones, on the current features."""
    now = SystemClock().now()
    changes = _run(db, program, lambda conn, p: (
        [service.refresh_segment(conn, p, key, now)] if key
        else service.refresh_all(conn, p, now)))
    for c in changes:
        console.print(f"{c.key}: {c.members:,} members (+{c.entered:,} -{c.left:,})")


@segments_app.command("members")
def segments_members(key: str, program: ProgramOpt,
                     limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
                     db: DbOpt = None) -> None:
    """The segment's members now (first page)."""
    page = _run(db, program, lambda conn, p: service.members_page(conn, p, key, 0, limit),
                write=False)
    for item in page["items"]:
        console.print(f"{item['member_id']}\t{item['entered_at']:%Y-%m-%d %H:%M}")


@segments_app.command("history")
def segments_history(key: str, program: ProgramOpt, db: DbOpt = None) -> None:
    """The segment's size over time."""
    found = _run(db, program, lambda conn, p: service.history(conn, p, key, 100), write=False)
    table = Table("counted at", "members", "entered", "left")
    for row in found["items"]:
        table.add_row(f"{row['counted_at']:%Y-%m-%d %H:%M}", f"{row['members']:,}",
                      f"{row['entered']:,}", f"{row['left']:,}")
    console.print(table)


@segments_app.command("upload")
def segments_upload(key: str, file: Annotated[Path, typer.Argument(exists=True,
                                                                   dir_okay=False)],
                    program: ProgramOpt, db: DbOpt = None) -> None:
    """Replace a static segment's members from a CSV with ``member_id`` or ``identity``."""
    with file.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ids = [int(r["member_id"]) for r in rows if (r.get("member_id") or "").strip().isdigit()]
    idents = [r["identity"].strip() for r in rows
              if not (r.get("member_id") or "").strip() and (r.get("identity") or "").strip()]
    now = SystemClock().now()
    with _progress() as progress:
        task = progress.add_task("uploading", total=len(rows))
        change = _run(db, program, lambda conn, p: service.upload_members(
            conn, p, key, ids, idents, now))
        progress.update(task, completed=len(rows))
    console.print(f"{key}: {change.members:,} members (+{change.entered:,} -{change.left:,})")
