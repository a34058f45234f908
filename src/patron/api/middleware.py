"""Around every request: a bound on the body, a clean answer to a defect, and the
request's id, metrics and audit trail (``RequestContext``).

Both are plain ASGI middleware, so they see the raw body as it arrives and every
exception the routes let through, whatever framework code sits in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.api.errors import CLOSE, problem_response
from patron.api.metrics import HTTP_LATENCY, HTTP_REQUESTS
from patron.audit.service import TRAIL, Trail, record
from patron.clock import Clock
from patron.db import Database
from patron.logs import REQUEST_ID, request_id_from

log = logging.getLogger("patron")


class PayloadTooLarge(HTTPException):
    """Raised while a body streams in past its limit; rendered as 413 ``payload_too_large``.

    An HTTP exception, so the framework's body reading passes it on untouched."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes, the most "
                              "this endpoint takes", headers=CLOSE)


def _too_large(limit: int):
    return problem_response(413, "payload_too_large", "Payload too large",
                            f"the request body is larger than {limit:,} bytes, the most this "
                            "endpoint takes", headers=CLOSE)


class BodyLimit:
    """Refuse a request body past ``limit_for(method, path)`` bytes with 413.

    A declared ``Content-Length`` past the limit is refused before any of the body is
    read; a body without one (chunked) is counted as it streams and refused as soon as
    it passes the limit, so no request can make Patron hold more than the limit.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self.app(scope, limited, send)


class UnexpectedErrors:
    """Answer a defect with a problem-details 500 ``internal_error`` and close the
    connection cleanly, instead of dropping it under a keep-alive client.

    The error is logged and not raised further: the server then ends the response as
    usual, and ``Connection: close`` tells the client to open a new connection for the
    next request. A failure after the response has started can only abort it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            log.exception("unexpected error", exc_info=exc)
            response = problem_response(
                500, "internal_error", "Internal error",
                "Patron failed to handle this request; it has been logged", headers=CLOSE)
            await response(scope, receive, send)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def route_label(scope: Scope) -> str:
    """The route template a request matched (``/api/v1/members/{member_id}``), so metrics
    and the audit log name routes, not ids; ``unmatched`` for a path no route has."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is None:
        return "unmatched"
    if isinstance(route, Mount):
        return f"{template}/*"
    # An included router's or a mounted app's route knows only its own part of the path:
    # the segments in front of it (``/api/v1``, ``/console``) are taken from the path.
    segments, own = scope["path"].rstrip("/").split("/"), template.rstrip("/").split("/")
    if len(segments) < len(own):
        return template
    return "/".join(segments[:len(segments) - len(own) + 1]) + template


class RequestContext:
    """Per request: its id (``X-Request-ID``, the caller's or a new one) in every log line
    and in the answer's header; its count and latency in the metrics; and, for a write,
    the audit trail that ``Context.write`` or the console fills in, with a ``failed``
    row afterwards for a write that changed nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(
            dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1"))
        method, status, started = scope["method"], 500, time.perf_counter()
        state = scope["app"].state  # the Patron app's, before a mounted app replaces it
        id_token = REQUEST_ID.set(request_id)
        trail = Trail(operation=f"{method} {scope['path']}") if method in WRITE_METHODS else None
        trail_token = TRAIL.set(trail)

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, with_id)
        finally:
            route, took = route_label(scope), time.perf_counter() - started
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(took)
            log.info("%s %s %s %.1f ms", method, scope["path"], status, took * 1000,
                     extra={"method": method, "route": route, "status": status,
                            "duration_ms": round(took * 1000, 1)})
            if trail is not None and trail.actor is not None and not trail.recorded:
                trail.operation = f"{method} {route}"
                await _record(state.db, state.clock, trail, status)
            TRAIL.reset(trail_token)
            REQUEST_ID.reset(id_token)



async def _record(db: Database, clock: Clock, trail: Trail, status: int) -> None:
    """The audit row of a write that did not record its own with its change."""
    outcome = "succeeded" if status < 400 else "failed"
    try:
        await run_in_threadpool(db.transact, lambda conn: record(
            conn, trail, now=clock.now(), outcome=outcome, status=status))
    except Exception:  # the answer is sent: a lost audit row is logged, not raised
        log.exception("could not write the audit row for %s", trail.operation)
