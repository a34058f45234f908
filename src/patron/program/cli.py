"""``patron program``: validate, publish, inspect and simulate program documents."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from sqlalchemy import Connection
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.clock import SystemClock
from patron.db import Database
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.flows import replay
from patron.flows import replay_schemas
from patron.flows.publish_checks import require_publishable
from patron.program import schemas
from patron.program.intake import check_document
from patron.program.service import get_program_by_slug
from patron.program.versions import (
    ProgramVersion,
    document_json,
    get_version,
    list_versions,
    publish,
)
from patron.program.document import ProgramDocument, program_json_schema_text
from patron.program.money import format_money
from patron.program.validate import Problem, format_problems

app = typer.Typer(help="Program as code: validate, publish and simulate program documents.",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


DocumentArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                             help="Program document, YAML or JSON")]
ProgramOpt = Annotated[str, typer.Option("--program", help="Program slug")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def _open(db: str | None) -> Database:
    return open_migrated(db)


def _fail(error: PatronError) -> None:
    err.print(f"[red]error[/red] {escape(f'[{error.code}] {error.detail}')}")
    raise typer.Exit(2)


def _usage(message: str) -> None:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(2)


def _checked(file: Path) -> tuple[ProgramDocument, list[Problem]]:
    """The valid document; otherwise every problem is printed and the command exits 1."""
    try:
        document, problems = check_document(file.read_bytes(), file.name)
    except PatronError as error:
        _fail(error)
    if document is None:
        typer.echo(format_problems(problems))
        errors = sum(p.severity == "error" for p in problems)
        typer.echo(f"{errors} error(s) in {file}", err=True)
        raise typer.Exit(1)
    if problems:
        typer.echo(format_problems(problems))
    return document, problems


@app.command("validate")
def validate(file: DocumentArg) -> None:
    """Check a program document; list every problem as `path: message` (exit 1 if any)."""
    document, _ = _checked(file)
    per_type: dict[str, int] = {}
    for rule in document.earn_rules:
        per_type[rule.on] = per_type.get(rule.on, 0) + 1
    typer.echo(f"ok: {document.name}, {len(document.earn_rules)} earn rule(s)")
    for event_type, count in per_type.items():
        typer.echo(f"  {event_type}: {count}")


@app.command("schema")
def schema(output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write to FILE instead of printing")] = None) -> None:
    """Print the JSON Schema of program documents (for editors and CI)."""
    text = program_json_schema_text()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output}", style="dim")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:100]
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


@app.command("publish")
def publish_command(file: DocumentArg, program: ProgramOpt,
                    note: Annotated[str | None, typer.Option(help="Why this version")] = None,
                    db: DbOpt = None) -> None:
    """Validate a document and publish it as the program's next version."""
    document, _ = _checked(file)
    source = file.read_text(encoding="utf-8")
    try:
        def work(conn):
            target = get_program_by_slug(conn, program)
            require_publishable(conn, target.id, document)
            return publish(conn, target, document, actor=_actor(), now=SystemClock().now(),
                           source=source, note=note)
        version, created = _open(db).transact(work)
    except PatronError as error:
        _fail(error)
    if created:
        console.print(f"published version {version.version}")
    else:
        console.print(f"unchanged: version {version.version} is already this document")


@app.command("show")
def show(program: ProgramOpt,
         version: Annotated[int | None, typer.Option(min=1, help="Default: the current one")]
         = None, db: DbOpt = None) -> None:
    """Print a version's document as YAML (as it was written, when published from YAML)."""
    try:
        found = _open(db).read(lambda conn: get_version(
            conn, get_program_by_slug(conn, program), version))
    except PatronError as error:
        _fail(error)
    if found.source and not found.source.lstrip().startswith("{"):
        typer.echo(found.source, nl=not found.source.endswith("\n"))
    else:
        assert found.document is not None
        typer.echo(yaml.safe_dump(document_json(found.document), sort_keys=False,
                                  allow_unicode=True), nl=False)


@app.command("versions")
def versions(program: ProgramOpt,
             limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
             db: DbOpt = None) -> None:
    """List published versions, newest first."""
    def work(conn):
        found = get_program_by_slug(conn, program)
        return found, list_versions(conn, found, None, limit)
    try:
        found, rows = _open(db).read(work)
    except PatronError as error:
        _fail(error)
    table = Table("version", "published at", "by", "note", "checksum",
                  title=f"{found.slug} versions", title_justify="left")
    for row in rows:
        mark = " (current)" if row.version == found.version else ""
        table.add_row(f"{row.version}{mark}", row.published_at.isoformat(timespec="seconds"),
                      escape(row.published_by), escape(row.note or ""), row.checksum[:12])
    console.print(table)


SIMULATE_HELP = (
    "Replay events through a draft document, beside the program's current version; "
    "nothing is written.\n\n"
    "Events come from --events FILE (JSONL, one event a line as POST /api/v1/events takes "
    "it, in occurred_at order) or, with --program, from the events the program recorded "
    "in [--from, --to) (whole days in the program's timezone; --days N: the N days before "
    "--to; default: the last 30 days). "
    "Reports points per rule, their cost in money, members affected, members who would "
    "earn nothing, the largest single awards, and points per tier. Members keep the tier "
    "and paid plan Patron recorded for them when each event occurred; tiers are not "
    "recomputed from the replay.")


@app.command("simulate", help=SIMULATE_HELP)
def simulate(draft: DocumentArg,
             events: Annotated[Path | None, typer.Option(
                 "--events", exists=True, dir_okay=False, readable=True,
                 help="JSONL events to replay")] = None,
             program: Annotated[str | None, typer.Option(
                 "--program", help="Compare with this program's current version")] = None,
             start: Annotated[datetime | None, typer.Option(
                 "--from", formats=["%Y-%m-%d"], show_default=False,
                 help="First day replayed (YYYY-MM-DD)")] = None,
             end: Annotated[datetime | None, typer.Option(
                 "--to", formats=["%Y-%m-%d"], show_default=False,
                 help="First day not replayed (YYYY-MM-DD)")] = None,
             days: Annotated[int | None, typer.Option(
                 "--days", min=1, max=36_500, show_default=False,
                 help="Replay the N days before --to (default 30, ending today)")] = None,
             format: Annotated[OutputFormat, typer.Option("--format", "-f")]
             = OutputFormat.TABLE,
             db: DbOpt = None) -> None:
    if events is not None and (start or end or days):
        _usage("give --events FILE, or --from/--to/--days to replay recorded events, not both")
    if start is not None and days is not None:
        _usage("give --from or --days, not both")
    if events is None and program is None:
        _usage("give --events FILE, or --program SLUG to replay its recorded events")
    document, _ = _checked(draft)
    try:
        if program is None:
            assert events is not None
            report = _run(document, replay.given_events(_lines(events)), None,
                          _count_lines(events))
        else:
            report = _open(db).read(lambda conn: _run(
                document, *_program_history(conn, program, events, start, end, days)))
    except PatronError as error:
        _fail(error)
    if format == OutputFormat.JSON:
        typer.echo(report.model_dump_json(indent=2))
    else:
        show_comparison(report, console)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        yield from replay.event_lines(handle)  # type: ignore[misc]


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _program_history(conn: Connection, slug: str, events: Path | None, start: datetime | None,
                     end: datetime | None, days: int | None = None
                     ) -> tuple[replay.History, ProgramVersion, int]:
    found = get_program_by_slug(conn, slug)
    current = get_version(conn, found)
    if events is not None:
        return (replay.given_events(_lines(events), conn, found.id), current,
                _count_lines(events))
    zone = found.settings.zone
    today = SystemClock().now().astimezone(zone).date()
    last_day = end.date() if end else today + timedelta(days=1)
    first_day = start.date() if start else (last_day - timedelta(days=days) if days else None)
    first, last = replay.recorded_range(zone, first_day, last_day, today, max_days=None)
    return (replay.recorded_events(conn, found.id, first, last), current,
            replay.count_recorded(conn, found.id, first, last))


def _run(document: ProgramDocument, history: replay.History,
         current: ProgramVersion | None, total: int) -> replay_schemas.SimulationComparison:
    with Progress(TextColumn("simulating"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("events", total=total)
        return replay.compare(document, history, current=current,
                                  progress=lambda done: bar.update(task, completed=done))


# --- the report as tables -------------------------------------------------------------------


def _signed(value: int | None, money: str | None = None) -> str:
    if value is None:
        return ""
    text = format_money(abs(value), money) if money else f"{abs(value):,}"
    return f"+{text}" if value > 0 else (f"-{text}" if value < 0 else "0")


def show_comparison(report: replay_schemas.SimulationComparison, out: Console) -> None:
    draft, current = report.draft, report.current
    where = ("given events" if report.events.kind == "given" else
             f"recorded events {report.events.start:%Y-%m-%d %H:%M} → "
             f"{report.events.end:%Y-%m-%d %H:%M} UTC")
    out.print(f"[bold]{escape(draft.program_name)}[/bold] (draft) · {where} · "
              f"{draft.events_read:,} events in {report.elapsed_seconds:.1f}s")
    if not draft.events_read:
        out.print("[yellow]no events were replayed: none was recorded in this range, so every "
                  "figure below is zero (widen --from/--to)[/yellow]")
    out.print(_summary(report))
    out.print(_rules(report))
    if report.gifts:
        out.print(_gifts(report))
    if report.tiers:
        out.print(_tiers(report))
    if draft.campaigns:
        out.print(_campaigns(draft))
    if draft.engagement:
        out.print(_engagement(draft))
    for side, figures in (("current version", current), ("draft", draft)):
        if figures is not None and figures.tiers_not_in_document:
            out.print(f"[dim]events run without a tier the {side} does not have: " + escape(
                _counts(figures.tiers_not_in_document)) + "[/dim]")
        if figures is not None and figures.plans_not_in_document:
            out.print(f"[dim]events run without a plan the {side} does not offer: " + escape(
                _counts(figures.plans_not_in_document)) + "[/dim]")
    if draft.largest_awards:
        out.print(_largest(draft))
    if draft.events_skipped:
        out.print("[dim]events skipped by the draft: " + escape(_counts(draft.events_skipped))
                  + "[/dim]")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))


def _summary(report: replay_schemas.SimulationComparison) -> Table:
    draft, current = report.draft, report.current
    columns = ["", f"current (v{current.version})", "draft", "change"] if current else ["",
                                                                                        "draft"]
    table = Table(*columns, title="summary", title_justify="left")
    rows: list[tuple[str, Callable[[replay_schemas.SimulationFigures], int], bool]] = [
        ("events evaluated", lambda f: f.events_evaluated, False),
        ("members seen", lambda f: f.members_seen, False),
        ("members earning nothing", lambda f: f.members_earning_nothing, False),
        ("points issued", lambda f: f.points_issued, False),
        ("points clawed back", lambda f: f.points_clawed_back, False),
        ("net points", lambda f: f.net_points, False),
        ("cost", lambda f: f.cost_minor, True),
    ]
    for label, figure, is_money in rows:
        cells = [_cell(figure(draft), draft.currency if is_money else None)]
        if current:
            money = current.currency if is_money else None
            same = current.currency == draft.currency
            change = figure(draft) - figure(current) if same or not is_money else None
            cells = [_cell(figure(current), money), cells[0], _signed(change, money)]
        table.add_row(label, *cells)
    return table


def _cell(value: int, currency: str | None) -> str:
    return format_money(value, currency) if currency else f"{value:,}"


def _label(rule: replay_schemas.RuleComparison) -> str:
    figures = rule.draft or rule.current
    notes = [note for note in (
        "" if rule.change == "kept" else rule.change,
        "cashback, in minor units" if figures is not None and figures.cashback else "",
        f"gift {figures.gift}, in units" if figures is not None and figures.gift else "")
        if note]
    return escape(f"{rule.rule_id} ({', '.join(notes)})" if notes else rule.rule_id)


def _gifts(report: replay_schemas.SimulationComparison) -> Table:
    """Net units of each catalog gift given, and the events its stock ran out for."""
    stock_out = {g.reward_id: g.out_of_stock for g in report.draft.gifts}
    table = Table("gift", *(["current"] if report.current else []), "draft", "change",
                  "out of stock (draft)", title="gifts given", title_justify="left")
    for gift in report.gifts:
        cells = [f"{gift.draft:,}" if gift.draft is not None else ""]
        if report.current:
            cells.insert(0, f"{gift.current:,}" if gift.current is not None else "")
        table.add_row(escape(f"{gift.reward_id} ({gift.reward_name})"), *cells,
                      _signed(gift.net_change), f"{stock_out.get(gift.reward_id, 0):,}")
    return table


def _tiers(report: replay_schemas.SimulationComparison) -> Table:
    """Points issued while members held each tier, as recorded when the events occurred."""
    def label(tier: replay_schemas.TierComparison) -> str:
        return escape(f"{tier.tier_id} ({tier.tier_name})" if tier.tier_id else tier.tier_name)

    if report.current is None:
        table = Table("tier", "points issued", "net points", "cost", "events", "members",
                      title="points per tier", title_justify="left")
        for tier in report.tiers:
            d = tier.draft
            assert d is not None
            table.add_row(label(tier), f"{d.points_issued:,}", f"{d.net_points:,}",
                          format_money(d.cost_minor, report.draft.currency), f"{d.events:,}",
                          f"{d.members:,}")
        return table
    table = Table("tier", "current", "draft", "change", "events", title="points issued per tier",
                  title_justify="left")
    for tier in report.tiers:
        old, new = tier.current, tier.draft
        table.add_row(label(tier), f"{old.points_issued:,}" if old else "",
                      f"{new.points_issued:,}" if new else "",
                      _signed(tier.points_issued_change),
                      f"{old.events if old else 0:,} → {new.events if new else 0:,}")
    return table


def _rules(report: replay_schemas.SimulationComparison) -> Table:
    currency = report.draft.currency
    if report.current is None:
        table = Table("rule", "net points", "cost", "awards", "members", "capped",
                      title="per rule", title_justify="left")
        for rule in report.rules:
            d = rule.draft
            assert d is not None
            table.add_row(_label(rule), f"{d.net_points:,}",
                          format_money(d.cost_minor, currency), f"{d.awards:,}",
                          f"{d.members_affected:,}", f"{d.capped_awards:,}")
        return table
    table = Table("rule", "current", "draft", "change", "cost change", "members",
                  title="net points per rule", title_justify="left")
    for rule in report.rules:
        old, new = rule.current, rule.draft
        table.add_row(_label(rule), f"{old.net_points:,}" if old else "",
                      f"{new.net_points:,}" if new else "", _signed(rule.net_points_change),
                      _signed(rule.cost_minor_change, currency),
                      f"{old.members_affected if old else 0:,} → "
                      f"{new.members_affected if new else 0:,}")
    return table


def _campaigns(figures: replay_schemas.SimulationFigures) -> Table:
    """Each campaign's cost to the draft: its rules' points and money, against its budget."""
    table = Table("campaign", "points", "cost", "members reached", "budget", "cut off by budget",
                  title="campaign cost (draft)", title_justify="left")
    for c in figures.campaigns:
        budget = " · ".join(part for part in (
            f"{c.budget_points:,} points" if c.budget_points is not None else "",
            format_money(c.budget_money, figures.currency) if c.budget_money is not None
            else "") if part) or "none"
        table.add_row(escape(f"{c.campaign_id} ({c.name})"), f"{c.points_issued:,}",
                      format_money(c.cost_minor, figures.currency), f"{c.members_reached:,}",
                      budget, f"{c.budget_cutoffs:,}")
    return table


def _engagement(figures: replay_schemas.SimulationFigures) -> Table:
    """What each badge, challenge and streak of the draft would give and cost."""
    table = Table("item", "achieved", "members", "points", "coupons",
                  "cost", "cut off by budget", title="badges, challenges and streaks (draft)",
                  title_justify="left")
    for e in figures.engagement:
        table.add_row(escape(f"{e.kind} {e.item_id} ({e.name})"), f"{e.achieved:,}",
                      f"{e.members:,}", f"{e.points_issued:,}", f"{e.coupons:,}",
                      format_money(e.cost_minor, figures.currency), f"{e.budget_cutoffs:,}")
    return table


def _largest(figures: replay_schemas.SimulationFigures) -> Table:
    table = Table("points", "rule", "member", "event", "why",
                  title="largest awards (draft)", title_justify="left")
    for award in figures.largest_awards:
        table.add_row(f"{award.points:,}", escape(award.rule_id), escape(award.member),
                      escape(award.event_id or ""), escape(award.explanation))
    return table
