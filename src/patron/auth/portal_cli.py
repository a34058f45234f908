"""``patron portal``: sign-in links for the member portal (/portal).

Registered in ``patron.cli.main`` with ``app.add_typer(portal_cli.app, name="portal")``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from patron.auth.portal import issue_link
from patron.clock import SystemClock
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.program.service import get_program_by_slug

app = typer.Typer(help="The member portal (/portal).", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True)


@app.command("link")
def link(member_id: Annotated[int, typer.Argument(help="The member's id")],
         program: Annotated[str, typer.Option(help="Program slug")],
         base_url: Annotated[str, typer.Option(help="Where Patron is served")]
         = "http://127.0.0.1:8000",
         db: Annotated[str | None, typer.Option(
             "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]
         = None) -> None:
    """Print a one-time sign-in link for the member (works once, for 15 minutes)."""
    database = open_migrated(db)
    try:
        issued = database.transact(lambda conn: issue_link(
            conn, get_program_by_slug(conn, program), member_id, SystemClock().now()))
    except PatronError as error:
        err.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
        raise typer.Exit(2) from None
    out.print(base_url.rstrip("/") + issued.path, highlight=False)
    err.print(f"valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC, once")
