"""``patron campaigns``: list campaigns, assign their targets, see who is in them."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.campaigns import service
from patron.clock import SystemClock
from patron.config import get_settings
from patron.db import Database, create_database
from patron.errors import PatronError
from patron.program.service import get_program_by_slug

app = typer.Typer(help="Campaigns: offers to a segment, with a holdout and a budget.",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)
ProgramOpt = Annotated[str, typer.Option("--program", help="Program slug")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def _open(db: str | None) -> Database:
    return create_database(db or get_settings().database_url)


def _fail(error: PatronError) -> None:
    err.print(f"[red]error[/red] {escape(f'[{error.code}] {error.detail}')}")
    raise typer.Exit(2)


@app.command("list")
def list_command(program: ProgramOpt, db: DbOpt = None) -> None:
    """The current version's campaigns: window, status, groups and budget used."""
    try:
        found = _open(db).read(lambda conn: service.list_campaigns(
            conn, get_program_by_slug(conn, program), SystemClock().now()))
    except PatronError as error:
        _fail(error)
    table = Table("campaign", "window", "status", "segment", "holdout", "treatment",
                  "holdout members", "points used", "money used")
    for c in found:
        spend = c.spend
        table.add_row(c.id, f"{c.starts:%Y-%m-%d %H:%M} → {c.ends:%Y-%m-%d %H:%M}", c.status,
                      c.segment or "(all)", f"{(c.holdout * 100).normalize():f}%",
                      f"{c.assigned.treatment:,}", f"{c.assigned.holdout:,}",
                      _used(spend.points, spend.budget_points) if spend else "-",
                      _used(spend.money, spend.budget_money) if spend else "-")
    console.print(table)


def _used(used: int, budget: int | None) -> str:
    return f"{used:,}" if budget is None else f"{used:,} / {budget:,}"


@app.command("assign")
def assign_command(program: ProgramOpt,
                   campaign: Annotated[str | None, typer.Argument(
                       help="One campaign (default: every running one)")] = None,
                   db: DbOpt = None) -> None:
    """Assign target members not assigned yet to treatment or holdout (idempotent)."""
    now = SystemClock().now()
    columns = (TextColumn("assigning"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err) as bar:
            task = bar.add_task("assign", total=None)

            def work(conn):
                target = get_program_by_slug(conn, program)
                step = partial(bar.advance, task)
                if campaign is None:
                    return service.assign(conn, target, now, step)
                return [service.assign_campaign(conn, target, campaign, now, step)]
            results = _open(db).transact(work)
    except PatronError as error:
        _fail(error)
    table = Table("campaign", "target", "new treatment", "new holdout", "coupons", "rewards",
                  "value", "no gift (budget)")
    for r in results:
        table.add_row(r.campaign_id, f"{r.target:,}", f"{r.treatment:,}", f"{r.holdout:,}",
                      f"{r.coupons:,}", f"{r.rewards:,}", f"{r.money:,}",
                      f"{r.skipped_for_budget:,}")
    console.print(table if results else "no campaign is running")


@app.command("members")
def members_command(campaign: str, program: ProgramOpt,
                    group: Annotated[str | None, typer.Option(
                        help="treatment or holdout")] = None,
                    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 100,
                    db: DbOpt = None) -> None:
    """Who is in a campaign and in which group."""
    if group not in (None, "treatment", "holdout"):
        err.print("[red]error[/red] --group is treatment or holdout")
        raise typer.Exit(2)
    try:
        page = _open(db).read(lambda conn: service.members_page(
            conn, get_program_by_slug(conn, program), campaign, group, None, limit))
    except PatronError as error:
        _fail(error)
    table = Table("member", "group", "bucket", "assigned at")
    for m in page.items:
        table.add_row(str(m.member_id), m.group, str(m.bucket), f"{m.assigned_at:%Y-%m-%d %H:%M}")
    console.print(table)
