"""``patron staff``: accounts for the people who sign in to the console.

Registered in ``patron.cli.main`` with ``app.add_typer(auth_cli.app, name="staff")``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from patron.auth.service import Role
from patron.auth.staff import create_staff
from patron.clock import SystemClock
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.program.service import get_program_by_slug

app = typer.Typer(help="Staff accounts for the console (/console).", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@app.command("create")
def create(program: Annotated[str, typer.Option(help="Program slug")],
           email: Annotated[str, typer.Option(help="The address the person signs in with")],
           role: Annotated[Role, typer.Option(help="What they may do, as an API key's role")]
           = Role.ANALYST,
           name: Annotated[str | None, typer.Option(help="Shown in the console")] = None,
           password_stdin: Annotated[bool, typer.Option(
               "--password-stdin", help="Read the password from the first line of stdin "
                                        "(for scripts) instead of prompting")] = False,
           db: DbOpt = None) -> None:
    """Create a staff account; the password is asked for twice, hidden, and stored hashed."""
    database = open_migrated(db)
    password = _password(password_stdin)
    try:
        account_id = database.transact(lambda conn: create_staff(
            conn, program_id=get_program_by_slug(conn, program).id, email=email,
            password=password, role=role, name=name, now=SystemClock().now()))
    except PatronError as error:
        err.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
        raise typer.Exit(2) from None
    out.print(f"staff account {account_id} ({escape(email)}, {role.value}) created")
