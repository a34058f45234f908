"""``patron audit list``: who wrote what, from the terminal.

Registered in ``patron.cli.main`` with ``app.add_typer(audit_cli.app, name="audit")``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from patron.audit.service import AuditQuery, list_entries
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.program.service import get_program_by_slug

app = typer.Typer(help="The audit log of writes.", no_args_is_help=True)
out = Console(width=200)
err = Console(stderr=True)

DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def _aware(value: datetime | None) -> datetime | None:
    return value if value is None or value.tzinfo else value.astimezone()


@app.command("list")
def list_(program: Annotated[str, typer.Option(help="Program slug")],
          member: Annotated[int | None, typer.Option(help="Only this member's")] = None,
          actor: Annotated[str | None, typer.Option(help="key:<id> or staff:<email>")] = None,
          since: Annotated[datetime | None, typer.Option(help="From this time")] = None,
          until: Annotated[datetime | None, typer.Option(help="Before this time")] = None,
          limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
          cursor: Annotated[str | None, typer.Option(help="From a previous page")] = None,
          db: DbOpt = None) -> None:
    """The program's writes, newest first."""
    database = open_migrated(db)
    query = AuditQuery(member, actor, _aware(since), _aware(until), cursor, limit)
    try:
        items, following = database.read(lambda conn: list_entries(
            conn, get_program_by_slug(conn, program).id, query))
    except PatronError as error:
        err.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
        raise typer.Exit(2) from None
    table = Table("id", "at", "actor", "operation", "member", "outcome", "request id")
    for item in items:
        outcome = item["outcome"] + (f" {item['status']}" if item["status"] else "")
        table.add_row(str(item["id"]), f"{item['at']:%Y-%m-%d %H:%M:%S}",
                      escape(item["actor"]), escape(item["operation"]),
                      str(item["member_id"] or ""), outcome, item["request_id"] or "")
    out.print(table)
    if following:
        out.print(f"more: --cursor {following}")
