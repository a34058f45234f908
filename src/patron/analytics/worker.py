"""Reports over a SQLite database are built in a process of their own.

DuckDB's sqlite scanner links a copy of SQLite of its own, and two copies of SQLite in
one process do not see each other's locks: POSIX file locks belong to the process, not
to the connection (sqlite.org, "How To Corrupt An SQLite Database File", multiple
copies of SQLite linked into the same application). The scanner's copy, finding no other
connection to the database, rebuilt the WAL index under Patron's own connections at the
first scan after each write: they then waited in SQLite's lock retries (the pause of
about a second report pages showed, with no CPU used) and saw the database as changed;
and closing its file drops every lock the process holds on the database, writers'
included. In a process of its own, the scanner is one more reader, which SQLite's locks
handle.

The worker is ``python -m patron.analytics.worker``, started on the first report and
kept for the next; it opens no SQLAlchemy connection, only the scanner's. Requests go
to it one at a time over a pipe: a function of this package, named, and its arguments
(the program, the queries), pickled; back come the reports, or the error one raised.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO, Any, TypeVar

from sqlalchemy import Engine

from patron.db import create_database

T = TypeVar("T")

IN_WORKER = False
"""True in the worker process: its snapshots scan the SQLite file directly."""
_HEADER = struct.Struct("!Q")


class WorkerDied(RuntimeError):
    """The worker process ended while building a report (killed, or out of memory)."""


def _send(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(header)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class _Worker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            # stdout carries the answers; the worker's own prints and logs go to stderr
            self._process = subprocess.Popen(
                [sys.executable, "-m", "patron.analytics.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                    p for p in sys.path if p)})
        return self._process

    def run(self, url: str, work: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._lock:
            for attempt in (1, 2):
                process = self._started()
                assert process.stdin is not None and process.stdout is not None
                try:
                    _send(process.stdin, (url, work, args))
                    ok, value = _receive(process.stdout)
                except (EOFError, BrokenPipeError) as died:
                    process.kill()
                    process.wait()
                    self._process = None
                    if attempt == 2:
                        raise WorkerDied("the analytics worker ended while building a "
                                         "report") from died
                    continue
                if ok:
                    return value
                raise value
        raise AssertionError("unreachable")


_WORKER = _Worker()



def run_apart(url: str, work: Callable[..., T], *args: Any) -> T:
    """``work(engine, *args)`` in the worker, for the database at ``url``: ``work`` is a
    module-level function (sent by name); its answer or its error comes back."""
    return _WORKER.run(url, work, args)


def _serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The worker's loop: each request is run on an engine that is never connected (the
    scanner reads the file; nothing else does)."""
    engines: dict[str, Engine] = {}
    while True:
        try:
            url, work, args = _receive(requests)
        except EOFError:
            return
        engine = engines.get(url)
        if engine is None:
            engine = engines[url] = create_database(url).engine
        try:
            answer = (True, work(engine, *args))
        except Exception as error:  # noqa: BLE001 - handed back to the caller, who raises it
            answer = (False, error)
        try:
            _send(answers, answer)
        except (pickle.PicklingError, TypeError, AttributeError) as unpicklable:
            _send(answers, (False, RuntimeError(f"{answer[1]!r} ({unpicklable})")))


def main() -> None:
    global IN_WORKER
    IN_WORKER = True
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot break the pipe
    _serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    # run as the package's module, not as __main__, so that IN_WORKER is the flag the
    # snapshots read
    from patron.analytics import worker as this_module

    this_module.main()
