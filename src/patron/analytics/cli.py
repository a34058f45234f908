"""``patron analytics REPORT``: the same reports as the API, as a table, JSON or CSV."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from babel.numbers import format_currency
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from patron.analytics import render
from patron.analytics.schemas import REPORTS, Report, ReportQuery
from patron.clock import SystemClock
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.program.service import get_program_by_slug

app = typer.Typer(help="Member insight and program analytics (DuckDB over the database).",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)
SHOWN_ROWS = 25

HELP = {
    "members": "Member structure: channels, regions, age bands, growth, active vs lapsed, spend.",
    "points": "Points issued, spent, expired, reversed per month; liability; breakage; rules.",
    "rewards": "Redemptions by reward, channel and month; points burned, cancelled, net; "
               "donations per cause; gifts with purchase.",
    "behaviour": "Time between purchases, frequency, categories, channels, events.",
    "rfm": "Recency / frequency / monetary scores per member and named segments.",
    "clv": "BG/NBD + Gamma-Gamma lifetime value: P(alive), expected purchases and value.",
    "cohorts": "Monthly join cohorts × months since join retention.",
    "stores": "Sales per store: revenue, orders, members, units, basket, discounts, coupons.",
    "products": "Sales per product level (--level department|category|subcategory|brand|sku).",
    "category-trends": "Revenue and members per month and category (or --level).",
    "segments": "Members, active members, orders, revenue and points per segment.",
}


AS_OF_BASIS = {"end": "the end date given", "today": "today",
               "data_end": "the last day with recorded activity"}


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class Level(StrEnum):
    DEPARTMENT = "department"
    CATEGORY = "category"
    SUBCATEGORY = "subcategory"
    BRAND = "brand"
    SKU = "sku"


class TimeUnit(StrEnum):
    DAY = "day"
    WEEK = "week"


Day = Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], show_default=False)]


def _money(value: Any, currency: str, exponent: int) -> str:
    if not isinstance(value, int):
        return "" if value is None else str(value)
    return format_currency(Decimal(value).scaleb(-exponent), currency, locale="en_US")


def _cell(key: str, value: Any, head: dict[str, Any]) -> str:
    if key.split(".")[-1] in render.MONEY_FIELDS:
        return _money(value, head["currency"], head["minor_exponent"])
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def show(report: Report, out: Console) -> None:
    head = render.header(report)
    out.print(f"[bold]{head['report']}[/bold] · {head['program']} · "
              f"{head['start'] or 'all history'} → {head['as_of']} · {head['currency']}")
    out.print(f"as of {head['as_of']} ({AS_OF_BASIS[head['as_of_basis']]})")
    _warn(report, out)
    summary = Table("figure", "value", title="summary", title_justify="left")
    for key, value in render.figures(report).items():
        summary.add_row(key.removeprefix("summary."), _cell(key, value, head))
    out.print(summary)
    for name, rows in render.tables(report).items():
        cols = render.columns(rows)
        grid = Table(*cols, title=name, title_justify="left")
        for row in rows[:SHOWN_ROWS]:
            flat = render.flat_row(row)
            grid.add_row(*(_cell(c, flat.get(c), head) for c in cols))
        out.print(grid if rows else f"[dim]{name}: no rows[/dim]")
        if len(rows) > SHOWN_ROWS:
            out.print(f"[dim]… {len(rows) - SHOWN_ROWS} more rows (use --format csv or json)"
                      "[/dim]")


def _warn(report: Report, out: Console) -> None:
    for warning in report.warnings:
        out.print(f"[yellow]warning[/yellow] {escape(warning)}")


def _emit(report: Report, fmt: OutputFormat, table: str | None, out_file: Path | None) -> None:
    if fmt != OutputFormat.TABLE:  # JSON carries them; CSV has no room for them
        _warn(report, err)
    if fmt == OutputFormat.TABLE:
        target = Console(file=out_file.open("w"), width=200) if out_file else console
        show(report, target)
        return
    text = (render.to_csv(report, table) if fmt == OutputFormat.CSV
            else json.dumps(report.model_dump(mode="json"), indent=2) + "\n")
    if out_file:
        out_file.write_text(text)
        err.print(f"wrote {out_file}", style="dim")
    else:
        print(text, end="")


def _run(name: str, program: str, db: str | None, query: dict[str, Any], fmt: OutputFormat,
         table: str | None, out: Path | None) -> None:
    # DuckDB, numpy and lifetimes load only when a report runs, not on every `patron` command
    from patron.analytics import service

    try:
        parsed = ReportQuery.model_validate(query)
        database = open_migrated(db)
        report = database.read(lambda conn: service.run_report(
            conn, get_program_by_slug(conn, program), name, parsed, SystemClock().now()))
        _emit(report, fmt, table, out)
    except PatronError as error:
        err.print(f"[red]error[/red] {escape(f'[{error.code}] {error.detail}')}")
        raise typer.Exit(2) from None
    except ValidationError as error:
        first = error.errors()[0]
        message = f"[invalid_input] {'.'.join(map(str, first['loc']))}: {first['msg']}"
        err.print(f"[red]error[/red] {escape(message)}")
        raise typer.Exit(2) from None


def _command(name: str):  # type: ignore[no-untyped-def]
    def command(
        program: Annotated[str, typer.Option(help="Program slug")],
        start: Day = None,
        end: Day = None,
        region: Annotated[str | None, typer.Option(help="Only members of this region")] = None,
        join_channel: Annotated[str | None, typer.Option(help="Only members who joined here")]
        = None,
        channel: Annotated[str | None, typer.Option(help="Only orders of this channel")] = None,
        lapsed_days: Annotated[int, typer.Option(help="members: lapsed after N days")] = 90,
        point_value: Annotated[str | None, typer.Option(
            help="What a point costs, currency units (default: the program's setting)")] = None,
        calibration_end: Day = None,
        time_unit: Annotated[TimeUnit, typer.Option(help="clv: model time unit")]
        = TimeUnit.WEEK,
        horizon_days: Annotated[int, typer.Option(help="clv: predict over N days")] = 90,
        segment: Annotated[str | None, typer.Option(help="rfm: only this segment")] = None,
        limit: Annotated[int | None, typer.Option(help="Rows of per-member lists (all)")]
        = None,
        level: Annotated[Level, typer.Option(
            help="products, category-trends: product level")] = Level.CATEGORY,
        bands: Annotated[str | None, typer.Option(
            help="behaviour: frequency bands' lowest order counts, e.g. 1,2,4,12,26,52 "
                 "(default: fixed, or at quantiles for frequent shoppers)")] = None,
        format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.TABLE,
        table: Annotated[str | None, typer.Option(help="csv: which table")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to FILE")] = None,
        db: Annotated[str | None, typer.Option(
            "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")] = None,
    ) -> None:
        query = dict(start=start.date() if start else None, end=end.date() if end else None,
                     region=region, join_channel=join_channel, channel=channel,
                     lapsed_days=lapsed_days, point_value=point_value,
                     calibration_end=calibration_end.date() if calibration_end else None,
                     time_unit=time_unit.value, horizon_days=horizon_days, segment=segment,
                     limit=limit, level=level.value, bands=bands)
        _run(name, program, db, query, format, table, out)

    command.__doc__ = HELP[name]
    return command


for _name in REPORTS:
    app.command(_name, help=HELP[_name])(_command(_name))
