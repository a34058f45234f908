"""Workers against a real PostgreSQL queue: a queued sweep's effect, one run per tick
however many workers, one run at a time, retries, stalled jobs and the queue's depth.

Workers here run with ``wait=False`` (they stop once nothing they may run is left) and
``concurrency=1`` (they take the next job only when the last is done, so a retry queued by
a failing run is still picked up before they stop).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi.testclient import TestClient
from procrastinate import App
from procrastinate.periodic import PeriodicDeferrer

from patron.api.app import create_app
from patron.clock import FrozenClock
from patron.config import Settings
from patron.db import Database
from patron.flows.jobs import ScheduledJob, schedule
from patron.worker.queue import MAINTENANCE, create_queue, enqueue, run_worker
from tests.api.test_operations import scrape, value
from tests.flows.test_ingest import BASE, Shop

WAIT = 120
"""Seconds a test waits for a worker before it fails (a stuck worker, not a slow one)."""


def settings(**overrides: Any) -> Settings:
    """No periodic sweeps or features: each test queues what it means to run."""
    return Settings(**{"sweeps_cron": "", "features_cron": "", "jobs_retry_attempts": 3,
                       "jobs_retry_backoff_seconds": 0, **overrides})


def sample_queue(url: str, name: str, run: Callable[..., Any], *, cron: str = "",
                 **overrides: Any) -> App:
    """A queue with one registered job of the kind another package would add."""
    registry: dict[str, ScheduledJob] = {}
    schedule(ScheduledJob(name, run, cron=lambda s: cron, interval=lambda s: 0,
                          description="sample"), registry)
    return create_queue(url, settings(**overrides), scheduled=registry)


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def work(app: App, db: Database, clock: FrozenClock, queue: str) -> None:
    run_worker(app, db, clock, queues=[queue], concurrency=1, wait=False,
               install_signal_handlers=False)


class Worker(threading.Thread):
    """A worker in a thread; ``finish`` joins it and raises what it raised."""

    def __init__(self, app: App, db: Database, clock: FrozenClock, queue: str) -> None:
        super().__init__(daemon=True)
        self.args_ = (app, db, clock, queue)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            work(*self.args_)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error

    def finish(self) -> None:
        self.join(WAIT)
        assert not self.is_alive(), "the worker did not stop"
        if self.error:
            raise self.error


def jobs_of(db: Database, queue: str) -> list[tuple[str, dict[str, Any]]]:
    return [(status, args) for status, args in db.read(lambda conn: conn.exec_driver_sql(
        "SELECT status::text, args FROM procrastinate_jobs WHERE queue_name = %s ORDER BY id",
        (queue,)).all())]


class Counting:
    """A pass that counts its runs, fails its first ``failures`` and can be held open."""

    def __init__(self, failures: int = 0, hold: bool = False,
                 on_first: Callable[[], object] | None = None) -> None:
        self.calls, self.failures, self.running, self.most_at_once = 0, failures, 0, 0
        self.started, self.release = threading.Event(), threading.Event()
        self.hold, self.on_first = hold, on_first
        self.lock = threading.Lock()

    def __call__(self, db: Database, now: datetime) -> dict[str, dict[str, int]]:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            call = self.calls
        try:
            self.started.set()
            if self.hold:
                assert self.release.wait(WAIT)
            if call == 1 and self.on_first:
                self.on_first()
            if call <= self.failures:
                raise RuntimeError(f"run {call} fails")
            return {"sample": {"run": call}}
        finally:
            with self.lock:
                self.running -= 1


def test_a_worker_in_a_thread_runs_a_queued_sweep_and_pending_points_are_released(
        pg, postgresql_url, clock):
    shop = Shop(pg, clock, [BASE], pending_days=14)
    member = shop.member()
    shop.send(shop.purchase(member, [("LAT", "drinks", 1, 25_00)]))
    assert (shop.balance(member).pending, shop.balance(member).available) == (25, 0)
    clock.advance(days=15)
    app = create_queue(postgresql_url, settings())
    with app.open():
        job_id = enqueue(app, "sweeps")
    assert job_id is not None
    worker = Worker(app, pg, clock, "sweeps")
    worker.start()
    worker.finish()
    assert (shop.balance(member).pending, shop.balance(member).available) == (0, 25)
    status = pg.read(lambda conn: conn.exec_driver_sql(
        "SELECT status::text FROM procrastinate_jobs WHERE id = %s", (job_id,)).scalar())
    assert status == "succeeded"


def test_two_workers_queue_one_run_per_tick_and_run_it_once(pg, postgresql_url, clock):
    name, sample = unique("tick"), Counting()
    apps = [sample_queue(postgresql_url, name, sample, cron="0 0 1 1 *") for _ in range(2)]
    tick = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp())

    async def both_deferrers(*ticks: int) -> None:
        for app in apps:  # each worker's periodic deferrer, at the same ticks
            async with app.open_async():
                periodic = app.periodic_registry.periodic_tasks[(name, "")]
                for at in ticks:
                    await PeriodicDeferrer(app.periodic_registry).defer_jobs([(periodic, at)])

    asyncio.run(both_deferrers(tick, tick + 60))
    assert jobs_of(pg, name) == [("todo", {"timestamp": tick})], \
        "one job for the tick; the next tick finds it still waiting (queueing lock)"
    workers = [Worker(app, pg, clock, name) for app in apps]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.finish()
    assert sample.calls == 1
    assert jobs_of(pg, name) == [("succeeded", {"timestamp": tick})]
    asyncio.run(both_deferrers(tick + 120))
    assert jobs_of(pg, name)[1:] == [("todo", {"timestamp": tick + 120})], \
        "once the run is done, the next tick queues again"


def test_a_second_worker_never_starts_a_run_while_another_worker_runs_one(
        pg, postgresql_url, clock):
    name, sample = unique("locked"), Counting(hold=True)
    first_app, second_app = (sample_queue(postgresql_url, name, sample) for _ in range(2))
    with first_app.open():
        assert enqueue(first_app, name) is not None
    first = Worker(first_app, pg, clock, name)
    first.start()
    assert sample.started.wait(WAIT)
    with second_app.open():
        assert enqueue(second_app, name) is not None, "the first run no longer waits"
    work(second_app, pg, clock, name)  # finds the waiting run locked, and stops
    assert sample.calls == 1
    assert [status for status, _ in jobs_of(pg, name)] == ["doing", "todo"]
    sample.release.set()
    first.finish()  # the first worker takes the waiting run once its own is done
    assert (sample.calls, sample.most_at_once) == (2, 1)
    assert [status for status, _ in jobs_of(pg, name)] == ["succeeded", "succeeded"]


def test_a_failed_run_is_retried(pg, postgresql_url, clock):
    name, sample = unique("flaky"), Counting(failures=1)
    app = sample_queue(postgresql_url, name, sample)
    with app.open():
        enqueue(app, name)
    work(app, pg, clock, name)
    assert sample.calls == 2
    assert jobs_of(pg, name) == [("failed", {}), ("succeeded", {"attempt": 1})]


def test_retries_stop_after_the_last_attempt(pg, postgresql_url, clock):
    name, sample = unique("broken"), Counting(failures=99)
    app = sample_queue(postgresql_url, name, sample, jobs_retry_attempts=2)
    with app.open():
        enqueue(app, name)
    work(app, pg, clock, name)
    assert sample.calls == 3
    assert jobs_of(pg, name) == [("failed", {}), ("failed", {"attempt": 1}),
                                 ("failed", {"attempt": 2})]


def test_a_retry_waits_for_its_backoff(pg, postgresql_url, clock):
    name, sample = unique("backoff"), Counting(failures=1)
    app = sample_queue(postgresql_url, name, sample, jobs_retry_backoff_seconds=300)
    with app.open():
        enqueue(app, name)
    work(app, pg, clock, name)
    assert sample.calls == 1, "the retry is not due yet"
    assert jobs_of(pg, name) == [("failed", {}), ("todo", {"attempt": 1})]
    wait = pg.read(lambda conn: conn.exec_driver_sql(
        "SELECT extract(epoch FROM scheduled_at - now()) FROM procrastinate_jobs "
        "WHERE queue_name = %s AND status = 'todo'", (name,)).scalar())
    assert 200 < wait <= 300


def test_a_failed_run_that_finds_the_next_run_waiting_leaves_the_retry_to_it(
        pg, postgresql_url, clock):
    """The case that wedges procrastinate's own retry (issue #1543): the next tick queued a
    run while this one ran, then this one failed. Nothing stays running; the waiting run
    does the work."""
    name = unique("meets")
    # while it runs, the next tick queues a run (the app is the one made just below)
    sample = Counting(failures=1, on_first=lambda: enqueue(app, name))
    app = sample_queue(postgresql_url, name, sample)
    with app.open():
        enqueue(app, name)
    work(app, pg, clock, name)
    assert sample.calls == 2
    assert jobs_of(pg, name) == [("failed", {}), ("succeeded", {})]


def test_a_job_left_running_by_a_dead_worker_is_failed_and_run_again(
        pg, postgresql_url, clock):
    name, sample = unique("stalled"), Counting()
    app = sample_queue(postgresql_url, name, sample)
    with app.open():
        job_id = enqueue(app, name)

    def killed_mid_run(conn) -> None:
        dead = conn.exec_driver_sql(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - interval '10 minutes') RETURNING id").scalar()
        conn.exec_driver_sql("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s "
                             "WHERE id = %s", (dead, job_id))

    pg.transact(killed_mid_run)
    work(app, pg, clock, name)
    assert sample.calls == 1
    assert jobs_of(pg, name) == [("failed", {}), ("succeeded", {})]


def test_maintenance_deletes_jobs_finished_before_the_keep_time(pg, postgresql_url, clock):
    name, sample = unique("old"), Counting()
    app = sample_queue(postgresql_url, name, sample, jobs_keep_hours=24)
    with app.open():
        enqueue(app, name)
    work(app, pg, clock, name)
    with app.open():
        enqueue(app, name)
    work(app, pg, clock, name)
    assert jobs_of(pg, name) == [("succeeded", {}), ("succeeded", {})]
    pg.transact(lambda conn: conn.exec_driver_sql(
        "UPDATE procrastinate_events SET at = now() - interval '25 hours' WHERE job_id = "
        "(SELECT min(id) FROM procrastinate_jobs WHERE queue_name = %s)", (name,)))
    with app.open():
        enqueue(app, MAINTENANCE)  # or one is already waiting: either runs now
    work(app, pg, clock, MAINTENANCE)
    assert jobs_of(pg, name) == [("succeeded", {})]


def test_metrics_report_the_queue_depth_by_status(pg, postgresql_url):
    name = unique("depth")
    app = sample_queue(postgresql_url, name, Counting())
    with app.open():
        enqueue(app, name)
    with TestClient(create_app(pg)) as client:
        samples = scrape(client)
    assert value(samples, "patron_queue_jobs", queue=name, status="todo") == 1
    assert value(samples, "patron_queue_jobs", queue=name, status="doing") == 0
