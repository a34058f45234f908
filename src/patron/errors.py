"""Errors that carry their HTTP status and a stable machine-readable code.

Each domain defines its exceptions next to its service by subclassing
:class:`PatronError`; one handler renders them as RFC 9457 problem details.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PatronError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://patron.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class Refused(PatronError):
    """A refusal worded already as a problem (by ingest, by another process), raised
    again as it was: its status, code and body."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail", "")))
        self.status = int(problem.get("status", 422))
        self.code = str(problem.get("code", "invalid_input"))
        self.body = problem

    def problem(self) -> dict[str, Any]:
        return dict(self.body)

    def __reduce__(self) -> tuple[Any, ...]:  # crosses a pipe as its problem
        return type(self), (self.body,)


class NotFound(PatronError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(PatronError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidInput(PatronError):
    status = 422
    code = "invalid_input"
    title = "Invalid input"


class Unauthorized(PatronError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(PatronError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class IdempotencyKeyReused(PatronError):
    status = 409
    code = "idempotency_key_reused"
    title = "Idempotency key reused with a different request"


class TransientDatabaseError(PatronError):
    """The database stayed busy or deadlocked past every retry."""

    status = 503
    code = "database_busy"
    title = "Database busy"
