"""The queue's tasks, schedules and retry policy, without a database (procrastinate's
InMemoryConnector); the worker against PostgreSQL is in test_worker.py."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from procrastinate.testing import InMemoryConnector
from psycopg.conninfo import conninfo_to_dict

from patron.api.app import create_app
from patron.api.server import app_from_environment
from patron.clock import FrozenClock
from patron.config import Settings, get_settings
from patron.db import Database, create_database
from patron.db.migrate import upgrade
from patron.flows.jobs import SCHEDULED, ScheduledJob, schedule
from patron.worker.queue import (InvalidSchedule, QueueNeedsPostgreSQL, RetryPolicy,
                                 UnknownJob, conninfo, create_queue, enqueue, run_worker)
from tests.conftest import T0

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/unused"


def queue(settings: Settings | None = None, scheduled=SCHEDULED):
    connector = InMemoryConnector()
    return create_queue(PG, settings or Settings(), scheduled=scheduled,
                        connector=connector), connector


def crons(app) -> dict[str, str]:
    periodic = app.periodic_registry.periodic_tasks
    return {name: task.cron for (name, _), task in periodic.items()}


def test_each_scheduled_job_is_a_task_on_its_own_queue_with_both_locks():
    app, _ = queue()
    for name in ("sweeps", "features", "maintenance"):
        task = app.tasks[name]
        assert (task.queue, task.lock, task.queueing_lock) == (name, name, name)
    assert crons(app) == {"sweeps": "* * * * *", "features": "0 3 * * *",
                          "notifications": "* * * * *", "maintenance": "* * * * *"}


def test_the_schedules_come_from_the_settings_and_empty_means_never():
    app, _ = queue(Settings(sweeps_cron="*/5 * * * *", features_cron=""))
    assert crons(app) == {"sweeps": "*/5 * * * *", "notifications": "* * * * *",
                          "maintenance": "* * * * *"}
    assert "features" in app.tasks, "a job without a schedule can still be queued by hand"


def test_a_bad_cron_expression_names_its_job():
    with pytest.raises(InvalidSchedule, match="features: '61 \\* \\* \\* \\*'"):
        queue(Settings(features_cron="61 * * * *"))


def test_retries_wait_twice_as_long_each_time_and_stop_after_the_last():
    policy = RetryPolicy(attempts=3, backoff_seconds=10)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [10, 20, 40, None]
    assert RetryPolicy(attempts=100, backoff_seconds=86_400).delay(100) == 86_400
    assert RetryPolicy(attempts=0, backoff_seconds=10).delay(1) is None


def test_conninfo_from_a_sqlalchemy_url():
    info = conninfo_to_dict(conninfo(
        "postgresql+psycopg://patron:p%40ss%20word@db.example:5433/loyalty?sslmode=require"))
    assert info == {"host": "db.example", "port": "5433", "user": "patron",
                    "password": "p@ss word", "dbname": "loyalty", "sslmode": "require"}
    assert conninfo_to_dict(conninfo("postgresql+psycopg://postgres@/patron?host=/run/pg")) == {
        "user": "postgres", "dbname": "patron", "host": "/run/pg"}
    for sqlite in ("patron-demo.db", "sqlite:///tmp/x.db"):
        with pytest.raises(QueueNeedsPostgreSQL):
            conninfo(sqlite)


def test_schedule_refuses_a_second_job_of_the_same_name_and_odd_names():
    registry: dict[str, ScheduledJob] = {}
    job = ScheduledJob("deliver", lambda db, now: {}, cron=lambda s: "", interval=lambda s: 0,
                       description="sample")
    schedule(job, registry)
    with pytest.raises(ValueError, match="already registered"):
        schedule(job, registry)
    for bad in ("Deliver", "", "with space", "a:b", "x" * 41):
        with pytest.raises(ValueError, match="lowercase"):
            schedule(ScheduledJob(bad, job.run, job.cron, job.interval, "sample"), registry)


class Sample:
    """A pass standing in for one another package registers (webhook delivery, say)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Database, datetime]] = []
        self.ran = threading.Event()

    def __call__(self, db: Database, now: datetime) -> dict[str, dict[str, int]]:
        self.calls.append((db, now))
        self.ran.set()
        return {"deliveries": {"sent": 1}}


def sample_registry(sample: Sample) -> dict[str, ScheduledJob]:
    registry: dict[str, ScheduledJob] = {}
    schedule(ScheduledJob("deliver", sample, cron=lambda settings: "*/10 * * * * *",
                          interval=lambda settings: 3600, description="sample delivery"),
             registry)
    return registry


def test_a_registered_job_becomes_a_periodic_task_that_a_worker_runs():
    sample, clock = Sample(), FrozenClock(T0)
    app, connector = queue(scheduled=sample_registry(sample))
    assert crons(app)["deliver"] == "*/10 * * * * *"
    first = enqueue(app, "deliver")
    assert first is not None and connector.jobs[first]["queueing_lock"] == "deliver"
    assert enqueue(app, "deliver") is None, "one waiting run at a time"
    with pytest.raises(UnknownJob):
        enqueue(app, "webhooks")
    marker = object()
    run_worker(app, marker, clock, queues=["deliver"], wait=False,  # type: ignore[arg-type]
               install_signal_handlers=False)
    assert sample.calls == [(marker, T0)]
    assert connector.jobs[first]["status"] == "succeeded"


def test_the_server_runs_registered_jobs_in_process_on_their_interval(tmp_path):
    sample = Sample()
    db = create_database(str(tmp_path / "inprocess.db"))
    upgrade(db)
    app = create_app(db, FrozenClock(T0), in_process_jobs=True,
                     scheduled=sample_registry(sample))
    with TestClient(app):
        assert app.state.in_process_jobs == {"deliver": 3600}
        assert sample.ran.wait(timeout=60), "the in-process runner never ran the job"
    assert sample.calls == [(db, T0)]
    quiet = create_app(db, FrozenClock(T0), scheduled=sample_registry(Sample()))
    with TestClient(quiet):
        assert quiet.state.in_process_jobs == {}
    db.dispose()


@pytest.mark.parametrize("jobs, running", [("inprocess", {"sweeps": 60, "features": 86_400,
                                                             "notifications": 30}),
                                           ("worker", {})])
def test_patron_jobs_says_whether_the_server_runs_the_jobs(tmp_path, monkeypatch, jobs,
                                                           running, kept_logging):
    path = tmp_path / "serve.db"
    upgrade(create_database(str(path)))
    monkeypatch.setenv("PATRON_DATABASE_URL", str(path))
    monkeypatch.setenv("PATRON_JOBS", jobs)
    get_settings.cache_clear()
    try:
        app = app_from_environment()
        with TestClient(app):
            assert app.state.in_process_jobs == running
    finally:
        get_settings.cache_clear()
