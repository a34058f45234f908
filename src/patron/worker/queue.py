"""The job queue: a procrastinate ``App`` on Patron's own PostgreSQL database.

Each scheduled job (``patron.flows.jobs.SCHEDULED``) becomes one task, queued on its cron
schedule by every worker's periodic deferrer; PostgreSQL keeps the workers from doubling
up: one queued run per schedule tick (procrastinate's periodic defers), at most one
*waiting* run per job (its queueing lock, so a slow sweep never piles runs up behind it)
and at most one *running* (its lock, so two workers never run the same sweep at once).

Retries. A failed run is queued again after a back-off (``RetryPolicy``) as a new job
rather than through procrastinate's own retry, which puts the failed job back to waiting:
with a queueing lock, that fails when the next tick has queued a run meanwhile, and leaves
the job running for ever with its lock held (procrastinate issue #1543). A new job that
meets a waiting one is simply not needed: the waiting run does the same work, because every
scheduled pass is idempotent and reads what is due from the database.

Stalled jobs. A worker killed mid-job leaves it running, holding its lock. Each worker on
start, and the ``maintenance`` task every minute, mark the jobs of workers that stopped
sending heartbeats failed and queue their tasks again; maintenance also deletes finished
jobs after ``PATRON_JOBS_KEEP_HOURS``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from procrastinate import App, BaseConnector, JobContext, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.jobs import Status
from procrastinate.periodic import PeriodicTask
from procrastinate.tasks import Task
from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from patron.clock import Clock
from patron.config import Settings, normalise_database_url
from patron.db import Database
from patron.errors import NotFound, PatronError
from patron.flows.jobs import SCHEDULED, ScheduledJob

log = logging.getLogger("patron.worker")

MAINTENANCE = "maintenance"
"""The queue's own housekeeping task and queue (stalled jobs, old finished jobs)."""
MAINTENANCE_CRON = "* * * * *"
STALLED_AFTER_SECONDS = 60
"""A worker silent this long is gone (workers beat every 10 seconds, on their event loop,
which a long sweep in its thread does not hold up)."""
LONGEST_RETRY_WAIT = 86_400


class QueueNeedsPostgreSQL(PatronError):
    status = 409
    code = "queue_needs_postgresql"
    title = "The job queue needs PostgreSQL"


class UnknownJob(NotFound):
    code = "unknown_job"
    title = "Unknown scheduled job"


class InvalidSchedule(PatronError):
    status = 422
    code = "invalid_schedule"
    title = "Invalid schedule"


def conninfo(database_url: str) -> str:
    """libpq connection parameters for a SQLAlchemy URL (``postgresql+psycopg://…``)."""
    url = make_url(normalise_database_url(database_url))
    if url.get_backend_name() != "postgresql":
        raise QueueNeedsPostgreSQL(
            f"the job queue lives in PostgreSQL; {url.get_backend_name()} has none: on SQLite "
            "the server runs the jobs itself (PATRON_JOBS=inprocess), or `patron jobs run`")
    params: dict[str, object] = {"host": url.host, "port": url.port, "user": url.username,
                                 "password": url.password, "dbname": url.database}
    params.update({key: ",".join(value) if isinstance(value, tuple) else value
                   for key, value in url.query.items()})  # ?host=/run/postgresql, sslmode…
    return make_conninfo(**{key: value for key, value in params.items() if value is not None})


def check_jobs_setting(settings: Settings, database: Database) -> None:
    """``PATRON_JOBS=worker`` turns the server's own runner off; on SQLite nothing would
    run the jobs then."""
    if settings.jobs == "worker" and database.is_sqlite:
        raise QueueNeedsPostgreSQL(
            "PATRON_JOBS=worker needs PostgreSQL (the job queue lives there); on SQLite "
            "leave PATRON_JOBS=inprocess so the server runs the scheduled jobs")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    """How many retries after the first failure."""
    backoff_seconds: int
    """The wait before the first retry; each further one waits twice as long."""

    def delay(self, retry: int) -> int | None:
        """Seconds before retry number ``retry`` (1 = the first), None past the last."""
        if retry > self.attempts:
            return None
        return min(self.backoff_seconds * 2 ** (retry - 1), LONGEST_RETRY_WAIT)


def create_queue(database_url: str, settings: Settings, *,
                 scheduled: Mapping[str, ScheduledJob] = SCHEDULED,
                 connector: BaseConnector | None = None, pool_size: int = 4) -> App:
    """The queue app: one task per scheduled job (periodic when its cron is set) and the
    maintenance task. ``connector`` replaces the PostgreSQL one (tests)."""
    if MAINTENANCE in scheduled:
        raise ValueError(f"{MAINTENANCE!r} is the queue's own task; name the job otherwise")
    if connector is None:
        connector = PsycopgConnector(conninfo=conninfo(database_url), min_size=1,
                                     max_size=pool_size)
    app = App(connector=connector)
    retry = RetryPolicy(settings.jobs_retry_attempts, settings.jobs_retry_backoff_seconds)
    for job in scheduled.values():
        _periodic(app, _task_for(app, job, retry), job.cron(settings).strip())
    _periodic(app, _maintenance_for(app, settings.jobs_keep_hours), MAINTENANCE_CRON)
    return app


def _task_for(app: App, job: ScheduledJob, retry: RetryPolicy) -> Task[Any, Any, Any]:
    def run(context: JobContext, timestamp: int | None = None,
            attempt: int = 0) -> dict[str, dict[str, Any]]:
        """One run of the job; ``timestamp`` is the schedule tick that queued it."""
        db: Database = context.additional_context["db"]
        clock: Clock = context.additional_context["clock"]
        try:
            return job.run(db, clock.now())
        except Exception:
            _retry_later(task, attempt + 1, retry)
            raise

    run.__name__ = run.__qualname__ = f"run_{job.name}"
    task: Task[Any, Any, Any] = app.task(name=job.name, queue=job.name, lock=job.name,
                                         queueing_lock=job.name, pass_context=True)(run)
    return task


def _periodic(app: App, task: Task[Any, Any, Any], cron: str) -> None:
    if not cron:
        return
    try:
        PeriodicTask(task=task, cron=cron, periodic_id="", configure_kwargs={}).croniter
    except ValueError as error:
        raise InvalidSchedule(f"{task.name}: {cron!r} is not a cron expression ({error}); "
                              "five fields (minute hour day month weekday), or six with "
                              "seconds last") from None
    app.periodic(cron=cron)(task)


def _retry_later(task: Task[Any, Any, Any], retry: int, policy: RetryPolicy) -> None:
    """Queue retry number ``retry`` of ``task`` after its back-off (see the module's
    docstring for why this is a new job)."""
    delay = policy.delay(retry)
    if delay is None:
        log.error("%s failed %d times in a row; it runs again at its next scheduled time",
                  task.name, retry)
        return
    try:
        job_id = task.configure(schedule_in={"seconds": delay}).defer(attempt=retry)
    except AlreadyEnqueued:
        log.info("%s failed; the run already waiting in the queue stands in for a retry",
                 task.name)
        return
    log.warning("%s failed; retry %d of %d in %d s (job %d)", task.name, retry,
                policy.attempts, delay, job_id)


def _maintenance_for(app: App, keep_hours: int) -> Task[Any, Any, Any]:
    async def maintain(context: JobContext, timestamp: int | None = None) -> dict[str, int]:
        """Recover stalled jobs; delete jobs finished more than ``keep_hours`` ago."""
        recovered = await recover_stalled(context.app)
        await context.app.job_manager.delete_old_jobs(
            nb_hours=keep_hours, include_failed=True, include_cancelled=True,
            include_aborted=True)
        return {"recovered": recovered}

    return app.task(name=MAINTENANCE, queue=MAINTENANCE, lock=MAINTENANCE,
                    queueing_lock=MAINTENANCE, pass_context=True)(maintain)


async def recover_stalled(app: App) -> int:
    """Mark failed the jobs that workers which stopped beating left running (their locks
    would hold for ever), and queue their tasks again. Returns how many."""
    manager = app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS))
    recovered = 0
    for job in stalled:
        try:
            await manager.finish_job(job=job, status=Status.FAILED, delete_job=False)
        except ConnectorException:  # it finished (or was recovered) meanwhile
            continue
        recovered += 1
        log.warning("job %s (%s) was left running by a worker that stopped; marked failed",
                    job.id, job.task_name)
        task = app.tasks.get(job.task_name)
        if task is not None and task.name != MAINTENANCE:
            try:
                await task.defer_async()
            except AlreadyEnqueued:
                pass
    return recovered


def scheduled_names(app: App) -> list[str]:
    """The tasks a person may queue or listen to: the scheduled jobs and maintenance, each
    on a queue of its own name (procrastinate's built-in tasks are not)."""
    return sorted(name for name, task in app.tasks.items() if task.queue == name)


def enqueue(app: App, name: str) -> int | None:
    """Queue a run of ``name`` now (the app open); None when one is already waiting."""
    if name not in scheduled_names(app):
        raise UnknownJob(f"no scheduled job is called {name!r}; there are "
                         f"{', '.join(scheduled_names(app))}")
    try:
        return app.tasks[name].defer()
    except AlreadyEnqueued:
        return None


def run_worker(app: App, db: Database, clock: Clock, *, concurrency: int = 2,
               queues: Sequence[str] | None = None, wait: bool = True,
               install_signal_handlers: bool = True, name: str | None = None) -> None:
    """Run a worker until it is stopped (SIGINT/SIGTERM: it finishes the jobs it runs
    first), or with ``wait=False`` until the queues hold nothing it can run now."""
    asyncio.run(_work(app, db, clock, concurrency=concurrency, queues=queues, wait=wait,
                      install_signal_handlers=install_signal_handlers, name=name))


async def _work(app: App, db: Database, clock: Clock, *, concurrency: int,
                queues: Sequence[str] | None, wait: bool, install_signal_handlers: bool,
                name: str | None) -> None:
    async with app.open_async():
        await recover_stalled(app)
        await app.run_worker_async(
            concurrency=concurrency, queues=list(queues) if queues else None, wait=wait,
            install_signal_handlers=install_signal_handlers, name=name or "patron",
            additional_context={"db": db, "clock": clock})


def queue_depth(conn: Connection) -> list[tuple[str, str, int]]:
    """Jobs per queue and status (``todo``, ``doing``, ``succeeded``, ``failed``, …);
    nothing on SQLite, which has no queue."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.exec_driver_sql(
        "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
        "GROUP BY queue_name, status ORDER BY queue_name, status")
    return [(queue, status, count) for queue, status, count in rows]
