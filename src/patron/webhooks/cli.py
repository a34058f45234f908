"""``patron webhooks``: endpoints, their messages, replays and a delivery pass.

Registered in ``patron.cli.main`` with ``app.add_typer(webhooks_cli.app, name="webhooks")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Connection

from patron.clock import SystemClock
from patron.config import get_settings
from patron.db.migrate import open_migrated
from patron.errors import PatronError
from patron.program.service import Program, get_program_by_slug
from patron.webhooks import service
from patron.webhooks.delivery import Deliverer
from patron.webhooks.schemas import EndpointCreate, ReplayRequest

app = typer.Typer(help="Webhooks: endpoints, messages, replays, delivery.",
                  no_args_is_help=True)
out = Console(width=200)
err = Console(stderr=True)
T = TypeVar("T")

ProgramOpt = Annotated[str, typer.Option("--program", help="Program slug")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Database URL or SQLite path (default: $PATRON_DATABASE_URL)")]
STATES = ("pending", "delivered", "dead")


def _fail(message: str) -> NoReturn:
    err.print(f"[red]error[/red] {escape(message)}")
    raise typer.Exit(2)


def _run(db: str | None, program: str, work: Callable[[Connection, Program], T], *,
         write: bool = False) -> T:
    database = open_migrated(db)
    try:
        run = database.transact if write else database.read
        return run(lambda conn: work(conn, get_program_by_slug(conn, program)))
    except PatronError as error:
        _fail(f"[{error.code}] {error.detail}")
    finally:
        database.dispose()


@app.command("event-types")
def event_types() -> None:
    """The event types an endpoint can take."""
    table = Table("event type", "what it tells")
    for entry in service.event_types():
        table.add_row(entry.name, escape(entry.description))
    out.print(table)


@app.command("list")
def list_(program: ProgramOpt, db: DbOpt = None) -> None:
    """The program's endpoints."""
    endpoints = _run(db, program, service.list_endpoints)
    table = Table("id", "url", "event types", "enabled", "description")
    for e in endpoints:
        table.add_row(str(e.id), escape(e.url), ", ".join(e.event_types),
                      "yes" if e.enabled else "no", escape(e.description or ""))
    out.print(table)


@app.command("add")
def add(url: str, program: ProgramOpt,
        event: Annotated[list[str], typer.Option(
            "--event", help="An event type (repeat for more; see `event-types`)")],
        description: Annotated[str | None, typer.Option()] = None,
        disabled: Annotated[bool, typer.Option(help="Add it disabled")] = False,
        db: DbOpt = None) -> None:
    """Subscribe URL to event types; prints the endpoint's id and signing secret."""
    try:
        payload = EndpointCreate(url=url, event_types=event, description=description,
                                 enabled=not disabled)
    except ValidationError as error:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()))
    made = _run(db, program, lambda conn, p: service.create_endpoint(
        conn, p, payload, SystemClock().now()), write=True)
    out.print(f"endpoint {made.id}: {escape(made.url)}")
    print(f"secret: {made.secret}")


def _messages_table(items: list[Any]) -> Table:
    table = Table("id", "endpoint", "event type", "member", "occurred", "state", "attempts",
                  "next attempt", "last status", "last error")
    for m in items:
        table.add_row(str(m.id), str(m.endpoint_id), m.event_type, str(m.member_id or ""),
                      f"{m.occurred_at:%Y-%m-%d %H:%M:%S}", m.state, str(m.attempts),
                      f"{m.next_attempt_at:%Y-%m-%d %H:%M:%S}" if m.next_attempt_at else "",
                      str(m.last_status or ""), escape((m.last_error or "")[:60]))
    return table


@app.command("deliveries")
def deliveries(program: ProgramOpt,
               endpoint: Annotated[int | None, typer.Option(help="Only this endpoint's")] = None,
               message: Annotated[int | None, typer.Option(
                   help="One message with every attempt")] = None,
               state: Annotated[str | None, typer.Option(help="pending, delivered or dead")]
               = None,
               member: Annotated[int | None, typer.Option(help="Only this member's")] = None,
               limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
               cursor: Annotated[str | None, typer.Option(help="From a previous page")] = None,
               db: DbOpt = None) -> None:
    """Messages newest first, or one message's delivery log (``--message``)."""
    if state is not None and state not in STATES:
        _fail(f"--state must be one of {', '.join(STATES)}")
    if message is not None:
        found = _run(db, program, lambda conn, p: service.get_message(conn, p, message))
        out.print(_messages_table([found]))
        log = Table("attempt", "at", "outcome", "status", "latency ms", "error")
        for a in found.deliveries:
            log.add_row(str(a.attempt), f"{a.at:%Y-%m-%d %H:%M:%S}", a.outcome,
                        str(a.status_code or ""), str(a.latency_ms), escape(a.error or ""))
        out.print(log)
        return
    items, following = _run(db, program, lambda conn, p: service.list_messages(
        conn, p, endpoint, state=state, member_id=member, cursor=cursor, limit=limit))
    out.print(_messages_table(items))
    if following:
        out.print(f"more: --cursor {following}")


@app.command("replay")
def replay(program: ProgramOpt,
           message: Annotated[int | None, typer.Option(help="This message")] = None,
           endpoint: Annotated[int | None, typer.Option(
               help="This endpoint's messages in --state")] = None,
           state: Annotated[str, typer.Option(help="With --endpoint: pending, delivered or "
                                                   "dead")] = "dead",
           db: DbOpt = None) -> None:
    """Send a message, or an endpoint's dead (or other) messages, again."""
    now = SystemClock().now()
    if (message is None) == (endpoint is None):
        _fail("give --message or --endpoint")
    if state not in STATES:
        _fail(f"--state must be one of {', '.join(STATES)}")
    if message is not None:
        found = _run(db, program, lambda conn, p: service.replay_message(conn, p, message, now),
                     write=True)
        out.print(f"message {found.id}: {found.state}, due now")
        return
    count = _run(db, program, lambda conn, p: service.replay_endpoint(
        conn, p, endpoint, ReplayRequest(state=state), now), write=True)
    out.print(f"{count} messages due again")


@app.command("deliver")
def deliver(db: DbOpt = None,
            program: Annotated[str | None, typer.Option(
                "--program", help="Only this program's (default: every program's)")] = None,
            until_idle: Annotated[bool, typer.Option(
                help="Repeat passes until nothing is due")] = False) -> None:
    """One delivery pass: send what is due, record each attempt."""
    database = open_migrated(db)
    try:
        only = (None if program is None else
                [database.read(lambda conn: get_program_by_slug(conn, program)).id])
    except PatronError as error:
        database.dispose()
        _fail(f"[{error.code}] {error.detail}")
    deliverer = Deliverer.from_settings(database, SystemClock(), get_settings(), only)
    total = {"claimed": 0, "delivered": 0, "retrying": 0, "dead": 0}
    try:
        while True:
            done = deliverer.deliver_once()
            for name in total:
                total[name] += getattr(done, name)
            if not until_idle or not done.claimed:
                break
    finally:
        deliverer.close()
        database.dispose()
    out.print(", ".join(f"{name} {count}" for name, count in total.items()))
