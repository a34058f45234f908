"""What every benchmark shares: a throwaway database, raw driver connections, a real
Patron server, and the timed loop of concurrent clients.

Each benchmark runs on a new database (a temporary SQLite file, or a PostgreSQL
database created on ``--pg-url`` and dropped afterwards), so runs never see each
other's rows. Raw baselines connect with Patron's own SQLite settings (WAL,
synchronous=NORMAL, busy timeout, foreign keys), so the comparison is like for like.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_URL_ENV = "PATRON_BENCH_PG_URL"
err = Console(stderr=True)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def pg_server_default() -> str:
    """``--pg-url``'s default: the environment's server, else the local one."""
    return os.environ.get(PG_URL_ENV, DEFAULT_PG)


# --------------------------------------------------------------------------- databases

@dataclass(frozen=True)
class Scratch:
    """A new, empty database: Patron's URL, and a raw DB-API connection to the same."""

    name: str
    """``sqlite`` or ``postgresql``."""
    url: str
    sqlite_path: str | None = None
    pg_dsn: str | None = None

    def connect(self) -> Any:
        """A raw connection: sqlite3 in autocommit mode (transactions begun by hand), or
        psycopg (the first statement opens the transaction)."""
        if self.sqlite_path is None:
            return psycopg.connect(self.pg_dsn)
        conn = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30,
                               check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000",
                       "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        return conn


def create_pg_database(pg_server: str, template: str | None = None) -> Any:
    """The URL of a new PostgreSQL database on ``pg_server`` (a copy of ``template``)."""
    name = f"patron_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'
                          + (f' TEMPLATE "{template}"' if template else "")))
    admin.dispose()
    return make_url(pg_server).set(database=name)


@contextlib.contextmanager
def scratch_database(kind: str, pg_server: str) -> Iterator[Scratch]:
    """A new, empty database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="patron-bench-") as tmp:
            path = str(Path(tmp) / "bench.db")
            yield Scratch("sqlite", f"sqlite:///{path}", sqlite_path=path)
        return
    url = create_pg_database(pg_server)
    name = url.database
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        yield Scratch("postgresql", url.render_as_string(hide_password=False), pg_dsn=dsn)
    finally:
        admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- Patron over HTTP

SERVERS: dict[str, int] = {}
"""The process id of each ``patron_server`` running, by its base URL."""


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of one process (Linux ``/proc``; 0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process (Linux ``/proc``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    head, _, rest = stat.read().rpartition(")")
                found.append((int(entry), int(rest.split()[1]), head.partition("(")[2]))
            except OSError:
                continue
    return found


@dataclass
class CpuAccount:
    """CPU seconds spent by the Patron server (its workers too), by PostgreSQL's processes
    and by this process (the clients) between ``start()`` and ``stop()``. On a machine
    where all three share the cores, it says which of them a rate is waiting on. Linux
    only: elsewhere ``per_event`` is None."""

    server: int | None
    spent: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        processes = _processes()
        tree, grew = {self.server}, True
        while grew:
            before = len(tree)
            tree |= {pid for pid, parent, _ in processes if parent in tree}
            grew = len(tree) > before
        return {"server": sum(_cpu_seconds(pid) for pid in tree),
                "database": sum(_cpu_seconds(pid) for pid, _, name in processes
                                if name == "postgres"),
                "clients": time.process_time()}

    def start(self) -> None:
        if self.server is not None and os.path.isdir("/proc"):
            self.spent = self._now()

    def stop(self) -> None:
        if self.spent:
            now = self._now()
            self.spent = {key: now[key] - value for key, value in self.spent.items()}

    def per_event(self, events: int) -> dict[str, float] | None:
        """Milliseconds of CPU per event, by part."""
        if not self.spent or not events:
            return None
        return {key: value / events * 1000 for key, value in self.spent.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def patron_server(url: str, workers: int = 1, start_seconds: float = 180,
                  env: dict[str, str] | None = None) -> Iterator[str]:
    """Patron served as the README says: ``patron serve --workers N`` (uvicorn), on
    ``url``'s database; it must answer within ``start_seconds`` (long, for a busy machine);
    its log goes to a file, shown if it fails to start. ``env``: the server's environment
    (default this process's), e.g. a ``PYTHONPATH`` naming another revision's code.

    The server's daily features job is off (``PATRON_FEATURES_INTERVAL_SECONDS=0``) unless
    ``env`` sets it: its first run, at start-up, refreshes every program's features and
    trains their recommendations, seconds of CPU that would land in the timed requests.
    The benchmarks time serving; the jobs have benchmarks of their own."""
    port = _free_port()
    env = {**(os.environ if env is None else env)}
    env.setdefault("PATRON_FEATURES_INTERVAL_SECONDS", "0")
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "patron.cli.main", "serve", "--db", url, "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--no-access-log"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            if process.poll() is not None:
                log.seek(0)
                err.print(log.read().decode(errors="replace"))
                raise RuntimeError("the Patron server exited during start-up")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Patron server did not start within {start_seconds} s")
            time.sleep(0.1)
        SERVERS[base] = process.pid
        yield base
    finally:
        SERVERS.pop(base, None)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# --------------------------------------------------------------------------- timing

def percentile(latencies_ms: Sequence[float], q: float) -> float | None:
    if not latencies_ms:
        return None
    ordered = sorted(latencies_ms)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Rate:
    """What a run did: successes, wall time, per-call latencies, failures."""

    done: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    """Every call that returned, failed ones (``send`` gave False) included."""
    errors: int = 0

    @property
    def per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        return percentile(self.latencies_ms, q)

    def summary(self, count: str, rate: str = "per_s",
                quantiles: Sequence[float] = (0.5, 0.99)) -> dict[str, Any]:
        """The figures for JSON output; ``count`` and ``rate`` name the first two."""
        found: dict[str, Any] = {count: self.done, "seconds": round(self.seconds, 3),
                                 rate: round(self.per_second, 1), "errors": self.errors}
        for q in quantiles:
            ms = self.percentile(q)
            found[f"p{round(q * 100)}_ms"] = None if ms is None else round(ms, 2)
        return found


def run_clients(clients: int, count: int, seconds: float,
                send: Callable[[Any, int], bool | None], open_client: Callable[[], Any],
                close_client: Callable[[Any], None]) -> Rate:
    """``clients`` threads share ``count`` jobs and stop at the deadline.

    ``send(client, job)`` fails by returning False or by raising (the first
    exception of each client is printed); None or True is a success.
    """
    jobs = iter(range(count))
    lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failed = [0] * clients
    errors = [0] * clients
    start = time.perf_counter()
    deadline = start + seconds

    def worker(slot: int) -> None:
        client = open_client()
        try:
            while time.perf_counter() < deadline:
                with lock:
                    job = next(jobs, None)
                if job is None:
                    return
                began = time.perf_counter()
                try:
                    ok = send(client, job)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    errors[slot] += 1
                    if errors[slot] == 1:
                        err.print(f"[red]error[/red] {exc!r}")
                    continue
                latencies[slot].append((time.perf_counter() - began) * 1000)
                if ok is False:
                    failed[slot] += 1
        finally:
            close_client(client)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    done = [ms for slot in latencies for ms in slot]
    return Rate(len(done) - sum(failed), elapsed, done, sum(failed) + sum(errors))
