"""Two guards around every request: a bound on the body, and a clean answer to a defect.

Both are plain ASGI middleware, so they see the raw body as it arrives and every
exception the routes let through, whatever framework code sits in between.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from patron.api.errors import CLOSE, problem_response

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
