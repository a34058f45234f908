"""The ``patron`` command."""

from __future__ import annotations

import os
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from patron.auth.service import Role, create_key, key_id_of, list_keys, revoke_key, rotate_key
from patron.auth.staff import set_staff
from patron.clock import SystemClock
from patron.config import get_settings
from patron.db import Database, create_database
from patron.db import migrate
from patron.migrations.tables import all_tables
from patron.demo.seed import SLUG, seed
from patron.flows import jobs
from patron.analytics import cli as analytics_cli
from patron.audit import cli as audit_cli
from patron.auth import cli as auth_cli
from patron.auth import portal_cli
from patron.cli import privacy as privacy_cli
from patron.campaigns import cli as campaigns_cli
from patron.campaigns import results_cli as campaign_results_cli
from patron.coupons import cli as coupons_cli
from patron.imports import cli as imports_cli
from patron.matching import cli as matching_cli
from patron.program import cli as program_cli
from patron.recommendations import cli as recommendations_cli
from patron.segments import cli as segments_cli
from patron.shops import cli as shops_cli
from patron.worker import cli as worker_cli
from patron.worker.queue import check_jobs_setting
from patron.worker.schema import drop_queue_schema
from patron.webhooks import cli as webhooks_cli
from patron.errors import PatronError
from patron.program.domain import ProgramSettings
from patron.program.service import create_program, get_program_by_slug

app = typer.Typer(help="Patron: customer loyalty and incentive platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
programs_app = typer.Typer(help="Programs (brands) in this installation.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled work.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(programs_app, name="programs")
app.add_typer(program_cli.app, name="program")
app.add_typer(jobs_app, name="jobs")
app.add_typer(imports_cli.app, name="import")
app.add_typer(analytics_cli.app, name="analytics")
app.add_typer(auth_cli.app, name="staff")
app.add_typer(portal_cli.app, name="portal")
app.add_typer(audit_cli.app, name="audit")
analytics_cli.app.command("campaign")(campaign_results_cli.campaign)
app.add_typer(coupons_cli.app, name="coupons")
app.add_typer(matching_cli.app, name="members")
matching_cli.app.command("export")(privacy_cli.export)
matching_cli.app.command("erase")(privacy_cli.erase)
app.add_typer(segments_cli.tags_app, name="tags")
app.add_typer(segments_cli.features_app, name="features")
app.add_typer(segments_cli.segments_app, name="segments")
app.add_typer(campaigns_cli.app, name="campaigns")
app.add_typer(shops_cli.app, name="shops")
app.command("worker")(worker_cli.worker)
jobs_app.command("enqueue")(worker_cli.jobs_enqueue)
app.add_typer(webhooks_cli.app, name="webhooks")
app.add_typer(recommendations_cli.app, name="recommendations")

console = Console()
DEMO_STAFF = "admin@demo-coffee.example"
DbOption = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]


def open_db(url: str | None) -> Database:
    """The named database, checked to hold Patron's current schema (``DatabaseNotReady``)."""
    return migrate.open_migrated(url)


def main() -> None:
    """The ``patron`` command: Patron's own errors end it with their message, not a trace."""
    try:
        app()
    except PatronError as error:
        console.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
        raise SystemExit(2) from None


def fail(error: PatronError) -> None:
    console.print(f"[red]error[/red] {escape(f'[{error.code}]')} {escape(error.detail)}")
    raise typer.Exit(2)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Apply all schema migrations (creating a SQLite file that is not there yet)."""
    database = create_database(db or get_settings().database_url)
    migrate.upgrade(database)
    console.print(f"database at revision [bold]{migrate.current_revision(database)}[/bold]")


@programs_app.command("create")
def programs_create(slug: str, name: Annotated[str, typer.Option()],
                    currency: str = "USD", timezone: str = "UTC", region: str = "US",
                    db: DbOption = None) -> None:
    """Create a program (a brand's loyalty program)."""
    database = open_db(db)
    try:
        settings = ProgramSettings(currency=currency, timezone=timezone, default_region=region)
        program = database.transact(lambda conn: create_program(
            conn, slug=slug, name=name, settings=settings, now=SystemClock().now()))
    except PatronError as error:
        fail(error)
    except ValueError as error:
        console.print(f"[red]error[/red] {error}")
        raise typer.Exit(2) from None
    console.print(f"program [bold]{program.slug}[/bold] created (id {program.id})")


_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
ExpiresIn = Annotated[str | None, typer.Option(
    "--expires-in", help="The key stops working after this long: 90d, 12h, 30m")]


def _expiry(expires_in: str | None, now: datetime) -> datetime | None:
    if expires_in is None:
        return None
    amount, unit = expires_in[:-1], expires_in[-1:]
    if not amount.isdigit() or unit not in _UNITS or not 0 < int(amount) <= 36_500:
        console.print(f"[red]error[/red] --expires-in {escape(expires_in)}: give a number "
                      "and d, h or m, e.g. 90d")
        raise typer.Exit(2)
    return now + timedelta(**{_UNITS[unit]: int(amount)})


@keys_app.command("create")
def keys_create(program: Annotated[str, typer.Option(help="Program slug")],
                role: Annotated[Role, typer.Option()] = Role.ADMIN,
                name: Annotated[str, typer.Option()] = "cli",
                expires_in: ExpiresIn = None,
                rate_limit: Annotated[str | None, typer.Option(
                    help="This key's requests per period, e.g. 100/minute "
                         "(default: $PATRON_RATE_LIMIT)")] = None,
                db: DbOption = None) -> None:
    """Create an API key; it is shown once and stored hashed."""
    database = open_db(db)
    now = SystemClock().now()
    expires_at = _expiry(expires_in, now)
    try:
        issued = database.transact(lambda conn: create_key(
            conn, program_id=get_program_by_slug(conn, program).id, role=role, name=name,
            now=now, expires_at=expires_at, rate_limit=rate_limit))
    except PatronError as error:
        fail(error)
    print(issued.key)


@keys_app.command("list")
def keys_list(program: Annotated[str, typer.Option(help="Program slug")],
              revoked: Annotated[bool, typer.Option(help="Show revoked keys too")] = False,
              db: DbOption = None) -> None:
    """The program's API keys: id, public prefix, role, name (never the secret)."""
    database = open_db(db)
    try:
        keys = database.read(lambda conn: list_keys(
            conn, get_program_by_slug(conn, program).id, revoked=revoked))
    except PatronError as error:
        fail(error)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for header in ("id", "prefix", "role", "name", "expires", "rate limit"):
        table.add_column(header, no_wrap=header not in ("name", "rate limit"),
                         min_width=10 if header in ("name", "rate limit") else None)
    if revoked:
        table.add_column("revoked", no_wrap=True)
    for key in keys:
        cells = [str(key.id), f"ptn_{key.prefix}", key.role.value, escape(key.name),
                 f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "never",
                 key.rate_limit or ""]
        if revoked:
            cells.append(f"{key.revoked_at:%Y-%m-%d}" if key.revoked_at else "")
        table.add_row(*cells)
    console.print(table)


KeyRef = Annotated[str, typer.Argument(
    metavar="KEY", help="The key's id, or its prefix as `keys list` shows it (ptn_ and 12 hex "
                        "digits)")]


@keys_app.command("revoke")
def keys_revoke(key: KeyRef, program: Annotated[str, typer.Option(help="Program slug")],
                db: DbOption = None) -> None:
    """Revoke a key: every server process refuses it from its next request on."""
    database = open_db(db)

    def work(conn) -> int:
        program_id = get_program_by_slug(conn, program).id
        key_id = key_id_of(conn, program_id, key)
        revoke_key(conn, key_id=key_id, now=SystemClock().now(), program_id=program_id)
        return key_id
    try:
        key_id = database.transact(work)
    except PatronError as error:
        fail(error)
    console.print(f"key {key_id} revoked")


@keys_app.command("rotate")
def keys_rotate(key: KeyRef, program: Annotated[str, typer.Option(help="Program slug")],
                expires_in: ExpiresIn = None, db: DbOption = None) -> None:
    """Print a new key with the same role, name and rate limit, and revoke the old one."""
    database = open_db(db)
    now = SystemClock().now()
    expires_at = _expiry(expires_in, now)

    def work(conn):
        program_id = get_program_by_slug(conn, program).id
        return rotate_key(conn, program_id=program_id, now=now, expires_at=expires_at,
                          key_id=key_id_of(conn, program_id, key))
    try:
        issued = database.transact(work)
    except PatronError as error:
        fail(error)
    print(issued.key)


@jobs_app.command("run")
def jobs_run(db: DbOption = None,
             features: Annotated[bool, typer.Option(
                 "--features", help="Also refresh member features, rule tags and dynamic "
                                    "segments, and train recommendations (the daily "
                                    "features job)")] = False) -> None:
    """Run the scheduled sweeps once: release pending points, expire lots, announce points
    expiring soon and campaigns that started, review tiers, move paid memberships on, prune
    delivered webhooks (and, with --features, the features job)."""
    database, now = open_db(db), SystemClock().now()
    result = jobs.run_all(database, now)
    if features:
        result.update(jobs.run_features(database, now))
    table = Table("sweep", "done")
    for name, counts in result.items():
        table.add_row(name, ", ".join(f"{key} {value}" for key, value in counts.items()))
    console.print(table)


def _serve(database: Database, host: str, port: int, workers: int = 1,
           access_log: bool = True) -> None:
    # the web app pulls in every router, and analytics' DuckDB and numpy with them
    # (about two seconds): loaded only by the commands that serve
    from patron.api import server

    # PATRON_JOBS=worker turns the server's runner off: on SQLite nothing would run the jobs
    check_jobs_setting(get_settings(), database)
    server.serve(database.engine.url.render_as_string(hide_password=False), host, port, workers,
                 access_log=access_log)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, db: DbOption = None,
          workers: Annotated[int, typer.Option(
              min=1, max=64, help="Worker processes (PostgreSQL: one or two per core; "
                                  "SQLite: 1)")] = 1,
          access_log: Annotated[bool, typer.Option(
              help="Log every request (one line each, on stderr)")] = True) -> None:
    """Serve the API (and run the scheduled jobs in-process, unless PATRON_JOBS=worker)."""
    database = open_db(db)
    database.dispose()  # each worker opens its own pool
    _serve(database, host, port, workers, access_log)


@app.command()
def demo(port: int = 8000, host: str = "127.0.0.1",
         db: Annotated[str, typer.Option(
             help="SQLite file, or a PostgreSQL URL (postgresql+psycopg://user@host/db) "
                  "of an existing database")] = "patron-demo.db",
         members: Annotated[int, typer.Option(min=10, max=100_000)] = 1000,
         reset: Annotated[bool, typer.Option(
             help="Start from an empty database (PostgreSQL: drops Patron's tables)")] = False,
         serve_: Annotated[bool, typer.Option("--serve/--no-serve")] = True) -> None:
    """Create a demo program with members and history, print a key, and serve it."""
    database = _demo_database(db, reset)
    migrate.upgrade(database)
    now = SystemClock().now()
    exists = database.read(lambda conn: _has_program(conn, SLUG))
    if not exists:
        started = time.perf_counter()
        with Progress(TextColumn("seeding demo history"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("events", total=None)
            result = seed(database, now, members=members,
                          progress=lambda done, total: bar.update(task, completed=done,
                                                                  total=total))
        console.print(f"seeded {result.members} members and {result.events} purchase events "
                      f"({result.points_issued} points) in {time.perf_counter() - started:.1f}s")
    keys = database.transact(lambda conn: {
        role: create_key(conn, program_id=get_program_by_slug(conn, SLUG).id, role=role,
                         name="demo", now=now).key for role in Role})
    staff_password = secrets.token_urlsafe(12)
    database.transact(lambda conn: set_staff(
        conn, program_id=get_program_by_slug(conn, SLUG).id, email=DEMO_STAFF,
        password=staff_password, role=Role.ADMIN, name="Demo admin", now=now))
    base = f"http://{host}:{port}"
    where = database.engine.url.render_as_string(hide_password=True)
    console.print(f"\n[bold]Demo Coffee Rewards[/bold] in {escape(where)}")
    for role, key in keys.items():
        print(f"  {role.value + ' key:':<17} {key}")
    print(f"  console:         {base}/console  ({DEMO_STAFF} / {staff_password})")
    print(f"  API docs:        {base}/docs\n  OpenAPI:         {base}/openapi.json\n"
          f"  CLI:             export PATRON_DATABASE_URL={_demo_target(db)}\n"
          f"  try:             curl -H 'Authorization: Bearer {keys[Role.ADMIN]}' "
          f"{base}/api/v1/members?limit=3\n", flush=True)
    if serve_:
        os.environ.setdefault("PATRON_DATABASE_URL", _demo_target(db))
        _serve(database, host, port)


def _demo_target(db: str) -> str:
    """What to give other commands: the URL as typed, or the SQLite file's full path."""
    return db if "://" in db else str(Path(db).resolve())


def _demo_database(db: str, reset: bool) -> Database:
    """The demo's database: a SQLite file (created when missing) or an existing
    PostgreSQL database, emptied of Patron's tables first on ``--reset``."""
    if "://" not in db:
        if reset:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
        return create_database(db)
    database = create_database(db)
    if reset:
        with database.engine.begin() as conn:
            all_tables().drop_all(conn)
            drop_queue_schema(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    return database


def _has_program(conn, slug: str) -> bool:
    try:
        get_program_by_slug(conn, slug)
        return True
    except PatronError:
        return False


if __name__ == "__main__":
    main()
