"""``patron worker`` and ``patron jobs enqueue``: the job queue from the terminal.

Registered in ``patron.cli.main``: ``app.command("worker")`` and
``jobs_app.command("enqueue")``.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import make_url

from patron.clock import SystemClock
from patron.config import Settings, get_settings, normalise_database_url
from patron.db import Database
from patron.db.migrate import open_migrated
from patron.errors import InvalidInput
from patron.flows.jobs import SCHEDULED
from patron.logs import configure_logging
from patron.webhooks.delivery import Deliverer, DeliveryRunner
from patron.worker.queue import (MAINTENANCE, MAINTENANCE_CRON, conninfo, create_queue,
                                 enqueue, run_worker, scheduled_names)

out = Console()

DbOpt = Annotated[str | None, typer.Option(
    "--db", help="PostgreSQL URL (default: $PATRON_DATABASE_URL)")]


def _open(db: str | None) -> tuple[str, Database]:
    """The database's URL, and the database checked to be PostgreSQL at this Patron's
    schema (the queue's tables come with it)."""
    url = db or get_settings().database_url
    conninfo(url)  # QueueNeedsPostgreSQL before anything is opened
    return url, open_migrated(url)


def _chosen(queues: list[str] | None, known: list[str]) -> list[str] | None:
    if not queues:
        return None
    chosen = [name.strip() for value in queues for name in value.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise InvalidInput(f"no job runs on queue {', '.join(unknown)}; the queues are "
                           f"{', '.join(known)}")
    return chosen


def _describe(url: str, settings: Settings, concurrency: int,
              queues: list[str] | None) -> None:
    where = escape(make_url(normalise_database_url(url)).render_as_string(hide_password=True))
    out.print(f"[bold]Patron worker[/bold] on {where}: concurrency {concurrency}, "
              f"queues {', '.join(queues) if queues else 'all'}")
    table = Table("job", "queued on (cron, UTC)", "what it does")
    for job in SCHEDULED.values():
        cron = job.cron(settings).strip()
        table.add_row(job.name, escape(cron) if cron else
                      f"[dim]never: patron jobs enqueue {job.name}[/dim]",
                      escape(job.description))
    table.add_row(MAINTENANCE, MAINTENANCE_CRON, "recover jobs of stopped workers, delete "
                  f"finished jobs after {settings.jobs_keep_hours} h")
    out.print(table)
    if settings.jobs == "inprocess":
        out.print("[yellow]note[/yellow] PATRON_JOBS is inprocess: a server started with "
                  "it runs these jobs too; start servers with PATRON_JOBS=worker")


def worker(concurrency: Annotated[int, typer.Option(
               min=1, max=64, help="Jobs run at once (each in its own thread); two lets a "
                                   "long features refresh run beside the sweeps")] = 2,
           queues: Annotated[list[str] | None, typer.Option(
               "--queues", help="Only these queues, comma-separated or repeated: a job's "
                                "queue is its name (sweeps, features, maintenance, …); "
                                "default all")] = None,
           db: DbOpt = None) -> None:
    """Run the scheduled jobs from the queue in PostgreSQL until stopped (Ctrl-C or
    SIGTERM: the jobs it is running finish first), and deliver webhooks meanwhile
    (unless ``PATRON_WEBHOOK_INTERVAL_SECONDS`` is 0)."""
    settings = get_settings()
    url, database = _open(db)
    app = create_queue(url, settings, pool_size=concurrency + 4)
    chosen = _chosen(queues, scheduled_names(app))
    _describe(url, settings, concurrency, chosen)
    configure_logging(settings.log_format, also=("procrastinate",))
    clock = SystemClock()
    delivery = (DeliveryRunner(Deliverer.from_settings(database, clock, settings),
                               settings.webhook_interval_seconds).start()
                if settings.webhook_interval_seconds > 0 else None)
    try:
        run_worker(app, database, clock, concurrency=concurrency, queues=chosen)
    finally:
        if delivery is not None:
            delivery.stop()
        database.dispose()


def jobs_enqueue(name: Annotated[str, typer.Argument(
                     help="The scheduled job: sweeps, features, …")],
                 db: DbOpt = None) -> None:
    """Queue a run of a scheduled job now, for `patron worker` to pick up."""
    url, database = _open(db)
    database.dispose()
    app = create_queue(url, get_settings(), pool_size=1)
    with app.open():
        job_id = enqueue(app, name)
    if job_id is None:
        out.print(f"{escape(name)} is already waiting in the queue: nothing added")
    else:
        out.print(f"queued [bold]{escape(name)}[/bold] as job {job_id}")
