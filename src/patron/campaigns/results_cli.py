"""``patron analytics campaign CAMPAIGN_ID``: a campaign's results as a table or JSON."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

import typer
from babel.numbers import format_currency, get_currency_precision
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from patron.campaigns.results import campaign_results
from patron.campaigns.results_schemas import CampaignResults, GroupResult, LiftResult
from patron.clock import SystemClock
from patron.config import get_settings
from patron.db import create_database
from patron.errors import PatronError
from patron.program.service import get_program_by_slug

console = Console()
err = Console(stderr=True)
ROWS = [("members", "members"), ("activated", "activated"), ("new members", "new_members"),
        ("orders", "orders"), ("revenue", "revenue"), ("spend per member", "spend_per_member"),
        ("orders per member", "orders_per_member"), ("points redeemed", "points_redeemed")]
MONEY = {"revenue", "spend_per_member"}


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def campaign(
        campaign_id: Annotated[str, typer.Argument(help="The campaign's id in the document")],
        program: Annotated[str, typer.Option(help="Program slug")],
        version: Annotated[int | None, typer.Option(help="Program version (default: current)")]
        = None,
        attribution_days: Annotated[int | None, typer.Option(
            min=0, max=365, help="Override the campaign's attribution days")] = None,
        format: Annotated[Format, typer.Option("--format", "-f")] = Format.TABLE,
        db: Annotated[str | None, typer.Option(
            "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")] = None,
) -> None:
    """Campaign results: treatment vs holdout, lift with its 95% interval, cost and ROI."""
    try:
        database = create_database(db or get_settings().database_url)
        with err.status(f"measuring campaign {escape(campaign_id)}…"):
            results = database.read(lambda conn: campaign_results(
                conn, get_program_by_slug(conn, program), campaign_id, SystemClock().now(),
                version=version, attribution_days=attribution_days))
    except PatronError as error:
        err.print(f"[red]error[/red] {escape(f'[{error.code}] {error.detail}')}")
        raise typer.Exit(2) from None
    if format == Format.JSON:
        print(results.model_dump_json(indent=2))
    else:
        show(results, console)


def _money(value: int | float | None, currency: str) -> str:
    if value is None:
        return "–"
    minor = Decimal(round(value)).scaleb(-get_currency_precision(currency))
    return format_currency(minor, currency, locale="en_US")


def _groups(r: CampaignResults) -> Table:
    groups: list[tuple[str, GroupResult]] = [("treatment", r.treatment)]
    if r.holdout is not None:
        groups.append(("holdout", r.holdout))
    table = Table("", *(name for name, _ in groups), title=f"{r.name} · {r.status} · "
                  f"{r.starts:%Y-%m-%d} → {r.measured_until:%Y-%m-%d} (attribution "
                  f"{r.attribution_days} days)", title_justify="left")
    for label, key in ROWS:
        values = [getattr(group, key) for _, group in groups]
        table.add_row(label, *(_money(v, r.currency) if key in MONEY else str(v)
                               for v in values))
    return table


def _interval(lift: LiftResult, money: str | None) -> str:
    def shown(value: float | None) -> str:
        return "–" if value is None else (_money(value, money) if money else f"{value:.3f}")

    text = f"{shown(lift.difference)} [{shown(lift.low)}, {shown(lift.high)}]"
    if lift.relative is not None and lift.relative_low is not None:
        text += f"  {lift.relative:+.1%} [{lift.relative_low:+.1%}, {lift.relative_high:+.1%}]"
    return text + (f"  ({lift.note})" if lift.note else "")


def show(r: CampaignResults, out: Console) -> None:
    out.print(_groups(r))
    summary = Table("", "", title="what it changed and cost", title_justify="left")
    if r.spend_lift is not None and r.orders_lift is not None:
        summary.add_row("spend lift / member (95%, Welch)", _interval(r.spend_lift, r.currency))
        summary.add_row("orders lift / member (95%, Welch)", _interval(r.orders_lift, None))
        summary.add_row("incremental revenue", f"{_money(r.incremental_revenue, r.currency)} "
                        f"[{_money(r.incremental_revenue_low, r.currency)}, "
                        f"{_money(r.incremental_revenue_high, r.currency)}]")
    summary.add_row("points issued / cashback", f"{r.points_issued} / "
                    f"{_money(r.cashback, r.currency)}")
    summary.add_row("coupons issued / used", f"{r.coupons_issued} / {r.coupons_used}")
    summary.add_row("cost", _money(r.cost, r.currency))
    summary.add_row("ROI", "–" if r.roi is None else f"{r.roi:.2f}")
    if r.top_rewards:
        summary.add_row("top rewards", ", ".join(f"{escape(w.name)} ×{w.redemptions}"
                                                 for w in r.top_rewards))
    out.print(summary)
    if r.before_after is not None:
        view = r.before_after
        out.print(f"[yellow]before/after[/yellow] {_money(view.before_spend_per_member, r.currency)}"
                  f" → {_money(view.after_spend_per_member, r.currency)} per member — "
                  f"{escape(view.note)}")
