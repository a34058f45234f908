"""``patron coupons``: generate a batch of codes and export it as CSV.

Register in ``patron.cli.main`` with ``app.add_typer(coupons_cli.app, name="coupons")``.
"""

from __future__ import annotations

import getpass
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from patron.clock import SystemClock
from patron.coupons import service
from patron.coupons.schemas import MAX_BATCH, BatchCreate
from patron.db import Database
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.program.service import get_program_by_slug

app = typer.Typer(help="Coupons: generate batches of codes and export them.",
                  no_args_is_help=True)
err = Console(stderr=True)

ProgramOpt = Annotated[str, typer.Option("--program", help="Program slug")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", dir_okay=False,
                                             help="Write the codes to FILE (default: stdout)")]


def _open(db: str | None) -> Database:
    return open_migrated(db)


def _fail(message: str) -> None:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(2)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


def _export(database: Database, program_slug: str, batch_id: int, output: Path | None) -> None:
    program, batch = database.read(lambda conn: (
        (p := get_program_by_slug(conn, program_slug)), service.get_batch(conn, p, batch_id)))
    lines = service.batch_csv(database, program, batch)
    if output is None:
        sys.stdout.writelines(lines)
        return
    with output.open("w", encoding="utf-8", newline="") as file:
        file.writelines(lines)
    err.print(f"wrote {batch.count:,} codes to {output}", style="dim")


@app.command("batch")
def batch(program: ProgramOpt,
          coupon_type: Annotated[str, typer.Option("--type", help="Coupon type id")],
          count: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Codes to generate")],
          name: Annotated[str | None, typer.Option(help="What the batch is for")] = None,
          output: OutOpt = None, db: DbOpt = None) -> None:
    """Generate a batch of codes for a promotion and write them as CSV."""
    try:
        payload = BatchCreate(coupon_type=coupon_type, count=count, name=name)
    except ValidationError as error:
        _fail(str(error.errors()[0]["msg"]))
    database = _open(db)
    began = time.perf_counter()
    try:
        created = database.transact(lambda conn: service.create_batch(
            conn, get_program_by_slug(conn, program), payload, now=SystemClock().now(),
            actor=_actor()))
        err.print(f"batch {created.id}: {created.count:,} codes of {created.coupon_type} in "
                  f"{time.perf_counter() - began:.1f} s", style="dim")
        _export(database, program, created.id, output)
    except PatronError as error:
        _fail(f"[{error.code}] {error.detail}")


@app.command("export")
def export(batch_id: Annotated[int, typer.Argument(min=1)], program: ProgramOpt,
           output: OutOpt = None, db: DbOpt = None) -> None:
    """Write a batch's codes as CSV."""
    try:
        _export(_open(db), program, batch_id, output)
    except PatronError as error:
        _fail(f"[{error.code}] {error.detail}")
