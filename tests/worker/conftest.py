"""Fixtures of the worker tests: a migrated PostgreSQL database, loggers put back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from patron.db import Database, create_database
from patron.db.migrate import upgrade

LOGGERS = ("patron", "uvicorn", "uvicorn.error", "uvicorn.access", "procrastinate")


@pytest.fixture
def kept_logging() -> Iterator[None]:
    """Commands configure logging for a process; a test's changes stop with it."""
    saved = {name: (list(logger.handlers), logger.level, logger.propagate)
             for name in LOGGERS for logger in [logging.getLogger(name)]}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers, logger.level, logger.propagate = handlers, level, propagate


@pytest.fixture(scope="module")
def pg(postgresql_url: str) -> Iterator[Database]:
    """The session's PostgreSQL database (skipped without a server), migrated."""
    db = create_database(postgresql_url)
    upgrade(db)
    yield db
    db.dispose()
