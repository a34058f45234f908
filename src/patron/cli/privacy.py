"""``patron members export`` and ``patron members erase``: a member's data, from the terminal.

Registered on the ``members`` group in ``patron.cli.main``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from patron.clock import SystemClock
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.flows.privacy.erasure import erase_member
from patron.flows.privacy.export import export_member
from patron.matching.cli import program_named

err = Console(stderr=True)
ProgramOpt = Annotated[str | None, typer.Option(
    "--program", help="Program slug (default: the only program)")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def _fail(error: PatronError) -> None:
    err.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
    raise typer.Exit(2)


def export(member_id: int,
           out: Annotated[Path | None, typer.Option(
               "--out", dir_okay=False, help="Write the JSON here (default: standard output)")]
           = None,
           program: ProgramOpt = None, db: DbOpt = None) -> None:
    """Everything held about a member, as JSON (what GET /members/{id}/export answers)."""
    database = open_migrated(db)
    try:
        body = database.read(lambda conn: export_member(
            conn, program_named(conn, program), member_id, SystemClock().now()))
    except PatronError as error:
        _fail(error)
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    rows = sum(len(rows) for rows in body["sections"].values())
    err.print(f"member {body['member_id']}: {rows:,} rows in "
              f"{sum(bool(r) for r in body['sections'].values())} sections written to "
              f"{escape(str(out))}")


def erase(member_id: int,
          reason: Annotated[str | None, typer.Option(help="Why (kept with the erasure)")] = None,
          yes: Annotated[bool, typer.Option("--yes", help="Do not ask to confirm")] = False,
          program: ProgramOpt = None, db: DbOpt = None) -> None:
    """Erase a member's personal data (as POST /members/{id}/erase does); final."""
    if not yes:
        typer.confirm(f"Erase member {member_id}'s personal data? This cannot be undone",
                      abort=True)
    database = open_migrated(db)
    try:
        done = database.transact(lambda conn: erase_member(
            conn, program_named(conn, program), member_id, actor="cli", reason=reason,
            now=SystemClock().now(), audit_as="cli: patron members erase"))
    except PatronError as error:
        _fail(error)
    err.print(f"member {done.member_id} erased: {done.identities_pseudonymised} identities "
              f"pseudonymised, {done.consents_withdrawn} consents withdrawn"
              + (f", records {', '.join(map(str, done.records))}" if len(done.records) > 1
                 else ""))
