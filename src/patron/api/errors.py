"""One renderer for every error: RFC 9457 problem details with a stable code."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from patron.errors import PatronError
from patron.logs import REQUEST_ID

log = logging.getLogger("patron")

PROBLEM = "application/problem+json"
CLOSE = {"Connection": "close"}
"""Sent with an answer given before the request was read, or after a defect: the
client opens a new connection for its next request."""


def problem_response(status: int, code: str, title: str, detail: str, *,
                     headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"https://patron.dev/problems/{code}", "title": title, "status": status,
            "code": code, "detail": detail, **extra, "request_id": REQUEST_ID.get()}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _printable(text: str) -> str:
    """Text as JSON can carry it: a lone surrogate (from a hostile key) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _field(loc: tuple[Any, ...]) -> str:
    parts = [_printable(str(p)) for p in loc if p not in ("body",)]
    text = ""
    for part in parts:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(PatronError)
    async def _patron(_: Request, exc: PatronError) -> JSONResponse:
        body = {**exc.problem(), "request_id": REQUEST_ID.get()}
        return JSONResponse(body, status_code=exc.status, media_type=PROBLEM,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e.get("loc", ()))),
                   "message": _printable(e.get("msg", "invalid")),
                   "type": e.get("type")} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(422, "validation_error", "Invalid request", detail,
                                errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                 413: "payload_too_large"}
        titles = {413: "Payload too large"}
        return problem_response(exc.status_code, codes.get(exc.status_code, "http_error"),
                                titles.get(exc.status_code, str(exc.detail)), str(exc.detail),
                                headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("write conflict: %s", exc.orig)
        return problem_response(409, "write_conflict", "Conflicting write",
                                "another request changed the same data at the same time; retry")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return problem_response(500, "internal_error", "Internal error",
                                "Patron failed to handle this request; it has been logged",
                                headers=CLOSE)
