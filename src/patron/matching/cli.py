"""``patron members match``: find the members who are likely one person.

Registered in ``patron.cli.main`` as the ``members`` group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from patron.clock import SystemClock
from patron.db.migrate import open_migrated
from patron.errors import Conflict, PatronError
from patron.flows.merging import merge_members
from patron.matching import batch, candidates
from patron.matching.scorer import load_model
from patron.program.repository import all_program_ids
from patron.program.service import Program, get_program, get_program_by_slug

app = typer.Typer(help="Members: find duplicates across channels; export or erase one's data.",
                  no_args_is_help=True)
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(2)


def program_named(conn, slug: str | None) -> Program:
    """The program ``--program`` names, or the only one there is."""
    if slug is not None:
        return get_program_by_slug(conn, slug)
    ids = all_program_ids(conn)
    if len(ids) != 1:
        raise typer.BadParameter(f"{len(ids)} programs here: name one with --program",
                                 param_hint="--program")
    return get_program(conn, ids[0])


@app.command("match")
def match(
    program: Annotated[str | None, typer.Option(
        "--program", help="Program slug (default: the only program)")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")] = None,
    threshold: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Keep pairs at or above this match probability")] = 0.9,
    train: Annotated[bool, typer.Option(
        "--train", help="Train a new model first (also done when the program has none)")] = False,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Merge pairs above the auto-merge threshold, queue the rest")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", dir_okay=False, help="Write the pairs to this CSV file")] = None,
) -> None:
    """Score candidate duplicate pairs of a program's members with its Splink model."""
    database = open_migrated(db)
    try:
        chosen, records, stored, limits = database.read(lambda conn: (
            (p := program_named(conn, program)), batch.read_records(conn, p.id),
            None if train else load_model(conn, p.id), batch.program_thresholds(conn, p)))
    except PatronError as error:
        _fail(f"[{error.code}] {error.detail}")
    if apply and limits.suggest < threshold:
        threshold = limits.suggest  # every pair worth queueing must be predicted
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(f"matching {len(records):,} members", total=None)
        try:
            run, text = batch.run_match(
                records, stored, threshold=threshold,
                step=lambda what: progress.update(
                    task, description=f"{what} ({len(records):,} members)"))
        except PatronError as error:
            progress.stop()
            _fail(f"[{error.code}] {error.detail}")
    if text is not None:
        now = SystemClock().now()
        database.transact(lambda conn: batch.store_model(conn, chosen.id, text,
                                                          len(run.pairs), now))
        err.print("trained and stored a new model", style="dim")
    err.print(f"{len(run.pairs):,} pairs at or above {threshold} among "
              f"{len(records):,} members")
    if out is not None:
        batch.write_csv(out, run)
        err.print(f"wrote {out}", style="dim")
    if apply:
        _apply(database, chosen, run)


def _merge_or_skip(conn, program, survivor_id, merged_id, **how):
    """The merge, or None when it is refused (a blocked or closed member): one such
    pair does not stop the others, and leaves nothing behind."""
    try:
        with conn.begin_nested():
            return merge_members(conn, program, survivor_id, merged_id, **how)
    except Conflict as refused:
        err.print(f"skipped {merged_id} → {survivor_id}: [{refused.code}] {refused.detail}",
                  style="yellow")
        return None


def _apply(database, program: Program, run: batch.MatchRun) -> None:
    """Merge the surest pairs and queue the rest, in one transaction."""
    now = SystemClock().now()
    try:
        applied = database.transact(lambda conn: batch.apply_pairs(
            conn, program, run.pairs, merge=_merge_or_skip, suggest=candidates.suggest,
            now=now, evidence=batch.evidence_from(run)))
    except PatronError as error:
        _fail(f"[{error.code}] {error.detail}")
    err.print(f"merged {len(applied.merged):,} pairs, queued {len(applied.queued):,} for "
              f"review, skipped {applied.skipped:,}")
