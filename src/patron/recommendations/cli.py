"""``patron recommendations``: train, show a member's lists, build a segment from them.

Registered in ``patron.cli.main``.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.clock import SystemClock
from patron.config import get_settings
from patron.db import create_database
from patron.errors import PatronError
from patron.flows import likely_segments
from patron.flows.likely_segments_schemas import LikelySegmentIn
from patron.program.repository import all_program_ids
from patron.program.service import get_program_by_slug
from patron.recommendations import jobs, model, service
from patron.recommendations.model import Parameters

app = typer.Typer(help="Reward and product recommendations.", no_args_is_help=True)
console = Console()

ProgramOpt = Annotated[str, typer.Option("--program", help="Program slug")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def _fail(error: PatronError) -> None:
    console.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
    raise typer.Exit(2)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


@app.command("train")
def train(program: Annotated[str | None, typer.Option(
              "--program", help="Program slug (default: every program)")] = None,
          algorithm: Annotated[str, typer.Option(
              help=f"One of {', '.join(model.ALGORITHMS)}")] = Parameters.algorithm,
          top: Annotated[int, typer.Option(min=1, max=100,
                                           help="Items kept per member and kind")
               ] = Parameters.top,
          seed: Annotated[int, typer.Option(help="Seed (als)")] = Parameters.seed,
          until: Annotated[datetime | None, typer.Option(
              help="Learn only from history before this time (UTC unless it says)")] = None,
          db: DbOpt = None) -> None:
    """Fit the model on the program's purchases and redemptions and store every active
    member's top rewards, categories and products."""
    if algorithm not in model.ALGORITHMS:
        console.print(f"[red]error[/red] unknown algorithm {escape(algorithm)!r}: one of "
                      f"{', '.join(model.ALGORITHMS)}")
        raise typer.Exit(2)
    parameters = Parameters(algorithm=algorithm, top=top, seed=seed)
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=SystemClock().now().tzinfo)
    database = create_database(db or get_settings().database_url)
    now = SystemClock().now()
    try:
        ids = ([database.read(lambda conn: get_program_by_slug(conn, program).id)]
               if program else database.read(all_program_ids))
        for program_id in ids:
            _train_one(database, program_id, now, parameters, until)
        if ids:
            done = likely_segments.refresh_all(database, now)
            if done["segments"]:
                console.print(f"{done['segments']} segments from recommendations filled")
    except PatronError as error:
        _fail(error)


def _train_one(database: Any, program_id: int, now: datetime, parameters: Parameters,
               until: datetime | None) -> None:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(f"program {program_id}", total=None)

        def advance(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"program {program_id}: {step}",
                            total=max(total, 1), completed=done)
        done = jobs.train_program(database, program_id, now, parameters, until, advance)
    console.print(f"program {program_id}: {done.members:,} members with history, "
                  f"{done.items:,} items; lists for {done.ranked:,} members "
                  f"({done.rows:,} rows) in {done.seconds:.1f} s")


@app.command("show")
def show(member: int, program: ProgramOpt,
         limit: Annotated[int, typer.Option(min=1, max=100)] = 10, db: DbOpt = None) -> None:
    """A member's recommendations, as ``GET /members/{id}/recommendations`` answers."""
    database = create_database(db or get_settings().database_url)
    now = SystemClock().now()
    try:
        found = database.read(lambda conn: service.member_recommendations(
            conn, get_program_by_slug(conn, program), member, now, limit))
    except PatronError as error:
        _fail(error)
    console.print(f"member {member}: basis [bold]{found['basis']}[/bold]")
    for name, label in (("rewards", "name"), ("categories", "category"), ("products", "sku")):
        table = Table("#", name, "score", "why", title=name)
        for n, item in enumerate(found[name], start=1):
            table.add_row(str(n), escape(str(item[label])), f"{item['score']:.3f}",
                          escape(item["reason"]))
        console.print(table)


@app.command("segment")
def segment(key: Annotated[str, typer.Option("--key", help="The segment's key")],
            program: ProgramOpt,
            category: Annotated[str | None, typer.Option()] = None,
            product: Annotated[str | None, typer.Option(help="A SKU")] = None,
            reward: Annotated[str | None, typer.Option(help="A reward id")] = None,
            top: Annotated[int, typer.Option(min=1)] = 1000,
            name: Annotated[str | None, typer.Option()] = None, db: DbOpt = None) -> None:
    """A static segment of the members likeliest to buy a category or product (or redeem a
    reward), to target a campaign at; each training fills it again."""
    try:
        payload = LikelySegmentIn(key=key, name=name, category=category, product=product,
                                  reward=reward, top=top)
    except ValueError as error:
        console.print(f"[red]error[/red] {escape(str(error))}")
        raise typer.Exit(2) from None
    database = create_database(db or get_settings().database_url)
    now = SystemClock().now()
    try:
        made = database.transact(lambda conn: likely_segments.build(
            conn, get_program_by_slug(conn, program), payload, _actor(), now))
    except PatronError as error:
        _fail(error)
    console.print(f"segment [bold]{made.key}[/bold]: {made.members:,} members likely to "
                  f"{likely_segments.WORDS[made.kind]} {escape(made.item)} "
                  f"(+{made.entered:,} -{made.left:,})")

