"""Log lines that say which request they belong to, as JSON or as plain text.

Every request gets an id (``X-Request-ID``: the caller's, else a new one), held in a
context variable for as long as the request runs; a logging filter puts it on every
record, so each line a request logs, in any module, carries it. ``PATRON_LOG_FORMAT``
chooses ``json`` (one object per line, for a log shipper) or ``text``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

REQUEST_ID: ContextVar[str | None] = ContextVar("patron_request_id", default=None)
"""The id of the request this code runs for (None outside a request)."""

_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


def request_id_from(sent: str | None) -> str:
    """The caller's id when it is a plain token of at most 128 characters, else a new one
    (an id goes into every log line and a response header: nothing else is trusted)."""
    if sent and _ACCEPTABLE_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, any extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                "level": record.levelname, "logger": record.name,
                "message": record.getMessage(),
                "request_id": getattr(record, "request_id", None) or REQUEST_ID.get()}
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def handler_for(log_format: str) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json"
                         else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(log_format: str, level: int = logging.INFO,
                      also: tuple[str, ...] = ()) -> None:
    """Send Patron's and uvicorn's logs (and the loggers ``also`` names) through one
    handler in ``log_format``."""
    handler = handler_for(log_format)
    for name in ("patron", "uvicorn", "uvicorn.error", "uvicorn.access", *also):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
