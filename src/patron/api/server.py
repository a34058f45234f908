"""How ``patron serve`` runs the app: one process, or several uvicorn workers.

Workers are separate processes, so each builds its own app from the environment
(``PATRON_DATABASE_URL``): uvicorn imports :func:`app_from_environment` in each.
Every worker holds its own connection pool; PostgreSQL takes them all, and on SQLite
the database file serialises writers across processes (one worker is the right
choice there, see the README's "Running in production").
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from patron.api.metrics import clear_multiprocess_dir
from patron.config import get_settings
from patron.db import create_database
from patron.logs import configure_logging

DATABASE_URL_ENV = "PATRON_DATABASE_URL"
WORKER_START_SECONDS = 60


def app_from_environment() -> FastAPI:
    """The app of one worker: its database from the environment, and its own runner of
    the scheduled jobs unless ``patron worker`` runs them (``PATRON_JOBS=worker``)."""
    from patron.api.app import create_app

    settings = get_settings()
    configure_logging(settings.log_format)
    return create_app(create_database(settings.database_url),
                      in_process_jobs=settings.jobs == "inprocess",
                      webhooks_interval=(settings.webhook_interval_seconds
                                         if settings.jobs == "inprocess" else None))


def serve(database_url: str, host: str, port: int, workers: int, *,
          access_log: bool = True) -> None:
    """Serve on ``host:port``; with ``workers`` > 1 the processes share the socket."""
    import uvicorn

    os.environ[DATABASE_URL_ENV] = database_url
    get_settings.cache_clear()
    clear_multiprocess_dir()
    uvicorn.run("patron.api.server:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=access_log,
                # a new worker imports all of Patron before it answers uvicorn's health
                # check: on a busy machine that can take longer than the default 5 s
                timeout_worker_healthcheck=WORKER_START_SECONDS)
