"""``patron worker`` and ``patron jobs enqueue``: a real worker process sweeping on its
cron schedule, queueing by hand, and clear refusals on SQLite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from patron.cli.main import app
from patron.clock import FrozenClock
from patron.config import get_settings
from patron.db import create_database
from patron.db.migrate import upgrade
from patron.errors import InvalidInput
from patron.worker.queue import QueueNeedsPostgreSQL, UnknownJob
from tests.conftest import T0
from tests.flows.test_ingest import BASE, Shop

runner = CliRunner()
SRC = Path(__file__).parents[2] / "src"
WAIT = 120


def patron(*args: str, cwd: Path, env: dict[str, str] | None = None,
           **popen: object) -> subprocess.Popen[str]:
    """``patron …`` in a process of its own, on this tree's sources."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PATRON_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])
    environment.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "patron.cli.main", *args], cwd=cwd,
                            env=environment, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, **popen)


def test_the_queue_commands_refuse_sqlite_and_say_why(tmp_path):
    path = str(tmp_path / "demo.db")
    upgrade(create_database(path))
    for args in (["worker"], ["jobs", "enqueue", "sweeps"]):
        done = patron(*args, "--db", path, cwd=tmp_path)
        output, _ = done.communicate(timeout=WAIT)
        assert done.returncode == 2, output
        assert "[queue_needs_postgresql]" in output and "PATRON_JOBS=inprocess" in output


def test_serve_refuses_patron_jobs_worker_on_sqlite(tmp_path, monkeypatch):
    path = str(tmp_path / "serve.db")
    upgrade(create_database(path))
    monkeypatch.setenv("PATRON_JOBS", "worker")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve", "--db", path])
    finally:
        get_settings.cache_clear()
    assert isinstance(result.exception, QueueNeedsPostgreSQL), result.output


def test_enqueue_queues_one_run_and_names_the_jobs_it_knows(postgresql_url, pg):
    first = runner.invoke(app, ["jobs", "enqueue", "features", "--db", postgresql_url])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("queued features as job ")
    again = runner.invoke(app, ["jobs", "enqueue", "features", "--db", postgresql_url])
    assert "features is already waiting in the queue: nothing added" in again.output
    unknown = runner.invoke(app, ["jobs", "enqueue", "webhooks", "--db", postgresql_url])
    assert isinstance(unknown.exception, UnknownJob)
    assert "features, maintenance, notifications, sweeps" in unknown.exception.detail
    wrong_queue = runner.invoke(app, ["worker", "--queues", "sweeps,nope",
                                      "--db", postgresql_url])
    assert isinstance(wrong_queue.exception, InvalidInput)
    pg.transact(lambda conn: conn.exec_driver_sql(
        "DELETE FROM procrastinate_jobs WHERE queue_name = 'features' AND status = 'todo'"))


@pytest.fixture
def own_postgresql(postgresql_url):
    """A database of its own: the worker below sweeps every program in it by real time."""
    name = make_url(postgresql_url).database + "_worker"
    admin = create_engine(postgresql_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgresql_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_patron_worker_sweeps_on_its_schedule_and_stops_on_sigterm(own_postgresql, tmp_path):
    db = create_database(own_postgresql)
    upgrade(db)
    shop = Shop(db, FrozenClock(T0), [BASE], pending_days=14)  # T0 + 14 days is long past
    member = shop.member()
    shop.send(shop.purchase(member, [("LAT", "drinks", 1, 25_00)]))
    assert shop.balance(member).pending == 25
    # the default schedule sweeps every minute: on start the worker queues the last
    # minute's sweep (procrastinate's periodic deferrer), with nothing queued by hand
    worker = patron("worker", "--db", own_postgresql, "--queues", "sweeps", cwd=tmp_path,
                    env={"PATRON_JOBS": "worker"})
    try:
        deadline = time.monotonic() + WAIT
        while shop.balance(member).available != 25:
            assert worker.poll() is None, worker.communicate()[0]
            assert time.monotonic() < deadline, "the worker never swept"
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=WAIT)
        db.dispose()
    assert worker.returncode == 0, output
    print(output)
    line = " ".join(output.split())  # Rich wraps at the terminal's width
    assert "Patron worker on postgresql+psycopg://" in line and "queues sweeps" in line
    assert "│ sweeps │ * * * * *" in line and "Starting job sweeps" in line
    assert "Stopped worker on queues sweeps" in line
