"""``patron shops connect|list|remove``: the shops that send a program their webhooks.

Registered in ``patron.cli.main`` with ``app.add_typer(shops_cli.app, name="shops")``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from patron.clock import SystemClock
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.program.service import get_program_by_slug
from patron.shops import service
from patron.shops.platforms import PLATFORMS, platform
from patron.shops.schemas import ShopConnectionCreate

app = typer.Typer(help="Shops (Shopify, WooCommerce) sending their order webhooks.",
                  no_args_is_help=True)
out = Console(width=200)
err = Console(stderr=True)

DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]
ProgramOpt = Annotated[str, typer.Option(help="Program slug")]


def _fail(error: PatronError) -> typer.Exit:
    err.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
    return typer.Exit(2)


def _secret(name: str, from_stdin: bool) -> str | None:
    """The signing secret: one line of stdin, else asked for (hidden) when the platform
    issues it, else None (Patron generates one)."""
    if from_stdin:
        return sys.stdin.readline().strip() or None
    try:
        chosen = platform(name)
    except PatronError as error:
        raise _fail(error) from None
    if chosen.secret_from_shop:
        return typer.prompt(f"{chosen.title} webhook signing secret", hide_input=True)
    return None


@app.command()
def connect(platform_name: Annotated[str, typer.Argument(
                metavar="PLATFORM", help=" or ".join(PLATFORMS))],
            shop: Annotated[str, typer.Argument(help="Shop domain or URL")],
            program: ProgramOpt,
            secret_stdin: Annotated[bool, typer.Option(
                "--secret-stdin", help="Read the signing secret from one line of stdin")] = False,
            channel: Annotated[str, typer.Option(help="Channel purchases are recorded on")] = "web",
            store_id: Annotated[str | None, typer.Option(
                help="Store purchases are recorded at (default: the shop)")] = None,
            db: DbOpt = None) -> None:
    """Connect a shop and print where its webhooks go (and a generated secret, once)."""
    secret = _secret(platform_name, secret_stdin)
    try:
        payload = ShopConnectionCreate(platform=platform_name, shop=shop, secret=secret,
                                       channel=channel, store_id=store_id)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        err.print(f"[red]error[/red] [validation_error] {escape(where)}: "
                  f"{escape(first['msg'])}")
        raise typer.Exit(2) from None
    database = open_migrated(db)
    try:
        made = database.transact(lambda conn: service.connect(
            conn, get_program_by_slug(conn, program).id, payload, SystemClock().now()))
    except PatronError as error:
        raise _fail(error) from None
    out.print(f"connection {made.id}: {made.platform} {escape(made.shop)}")
    out.print(f"webhook path: {made.webhook_path}  (after your server's address)")
    out.print("topics: " + ", ".join(made.topics))
    if made.secret:
        out.print(f"secret (shown once, paste it into the webhook): {made.secret}")


@app.command("list")
def list_(program: ProgramOpt, db: DbOpt = None) -> None:
    """The program's connected shops (never their secrets)."""
    database = open_migrated(db)
    try:
        found = database.read(lambda conn: service.list_connections(
            conn, get_program_by_slug(conn, program).id))
    except PatronError as error:
        raise _fail(error) from None
    table = Table("id", "platform", "shop", "channel", "store", "webhook path", "since")
    for item in found:
        table.add_row(str(item.id), item.platform, escape(item.shop), item.channel,
                      escape(item.store_id), item.webhook_path, f"{item.created_at:%Y-%m-%d}")
    out.print(table)


@app.command()
def remove(connection_id: Annotated[int, typer.Argument(min=1)], program: ProgramOpt,
           db: DbOpt = None) -> None:
    """Stop taking a shop's webhooks (what it recorded stays)."""
    database = open_migrated(db)
    try:
        database.transact(lambda conn: service.remove(
            conn, get_program_by_slug(conn, program).id, connection_id, SystemClock().now()))
    except PatronError as error:
        raise _fail(error) from None
    out.print(f"connection {connection_id} removed")
