"""Webhook use cases: endpoints, messages, replays.

Every change of endpoints is forgotten by this process's subscription cache at once
(``outbox.subscriptions``); the face forgets again after its commit, so a request
racing the change cannot keep the old view for longer than the cache's time.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from patron.errors import Conflict, InvalidInput, NotFound
from patron.program.service import Program
from patron.schemas_common import plain_id
from patron.webhooks import domain, repository
from patron.webhooks.event_types import EVENT_TYPES
from patron.webhooks.outbox import subscriptions
from patron.webhooks.schemas import (Attempt, Endpoint, EndpointCreate, EndpointCreated,
                                     EndpointUpdate, EventType, Message, MessageDetail,
                                     ReplayRequest)

MAX_ENDPOINTS = 50
"""Per program: every message is written once per endpoint that takes its type."""


class EndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"
    title = "Webhook endpoint not found"


class MessageNotFound(NotFound):
    code = "webhook_message_not_found"
    title = "Webhook message not found"


class UnknownEventType(InvalidInput):
    code = "unknown_event_type"
    title = "Unknown webhook event type"


class InvalidSecret(InvalidInput):
    code = "invalid_webhook_secret"
    title = "Invalid webhook secret"


class TooManyEndpoints(Conflict):
    code = "too_many_webhook_endpoints"
    title = "Too many webhook endpoints"


class InvalidCursor(InvalidInput):
    code = "invalid_cursor"
    title = "Invalid cursor"


def event_types() -> list[EventType]:
    return [EventType(name=e.name, description=e.description) for e in EVENT_TYPES.values()]


def _known_types(names: list[str]) -> list[str]:
    """The names, each once, in the order given; 422 ``unknown_event_type`` otherwise."""
    unknown = [name for name in names if name not in EVENT_TYPES]
    if unknown:
        raise UnknownEventType(f"unknown event type {unknown[0]!r}: see GET "
                               "/api/v1/webhooks/event-types", field="event_types",
                               event_type=unknown[0], known=sorted(EVENT_TYPES))
    return list(dict.fromkeys(names))


def _view(row: Any) -> Endpoint:
    return Endpoint(id=row.id, url=row.url, description=row.description,
                    event_types=list(row.event_types), enabled=row.enabled,
                    created_at=row.created_at, updated_at=row.updated_at)


def _endpoint(conn: Connection, program: Program, endpoint_id: int, *,
              lock: bool = False) -> Any:
    row = repository.endpoint_row(conn, program.id, endpoint_id, lock=lock)
    if row is None:
        raise EndpointNotFound(f"webhook endpoint {endpoint_id} does not exist",
                               endpoint_id=endpoint_id)
    return row


def create_endpoint(conn: Connection, program: Program, payload: EndpointCreate,
                    now: datetime) -> EndpointCreated:
    types = _known_types(payload.event_types)
    secret = payload.secret or domain.new_secret()
    problem = domain.secret_problem(secret)
    if problem is not None:
        raise InvalidSecret(f"secret {problem}", field="secret")
    if repository.count_endpoints(conn, program.id) >= MAX_ENDPOINTS:
        raise TooManyEndpoints(f"a program has at most {MAX_ENDPOINTS} webhook endpoints",
                               limit=MAX_ENDPOINTS)
    endpoint_id = repository.insert_endpoint(
        conn, program_id=program.id, url=payload.url, description=payload.description,
        event_types=types, secret=secret, enabled=payload.enabled, created_at=now,
        updated_at=now)
    subscriptions.forget(program.id)
    row = _endpoint(conn, program, endpoint_id)
    return EndpointCreated(**_view(row).model_dump(), secret=row.secret)


def list_endpoints(conn: Connection, program: Program) -> list[Endpoint]:
    return [_view(row) for row in repository.endpoint_rows(conn, program.id)]


def get_endpoint(conn: Connection, program: Program, endpoint_id: int) -> Endpoint:
    return _view(_endpoint(conn, program, endpoint_id))


def endpoint_secret(conn: Connection, program: Program, endpoint_id: int) -> str:
    return _endpoint(conn, program, endpoint_id).secret


def update_endpoint(conn: Connection, program: Program, endpoint_id: int,
                    payload: EndpointUpdate, now: datetime) -> Endpoint:
    """Only the fields sent change; sending the same change again changes nothing."""
    row = _endpoint(conn, program, endpoint_id, lock=True)
    values: dict[str, Any] = {}
    if payload.url is not None and payload.url != row.url:
        values["url"] = payload.url
    if payload.event_types is not None:
        types = _known_types(payload.event_types)
        if types != list(row.event_types):
            values["event_types"] = types
    if "description" in payload.model_fields_set and payload.description != row.description:
        values["description"] = payload.description
    if payload.enabled is not None and payload.enabled != row.enabled:
        values["enabled"] = payload.enabled
    if values:
        repository.update_endpoint(conn, endpoint_id, {**values, "updated_at": now})
        subscriptions.forget(program.id)
    return get_endpoint(conn, program, endpoint_id)


def delete_endpoint(conn: Connection, program: Program, endpoint_id: int,
                    now: datetime) -> None:
    """The endpoint goes with its messages and their delivery log."""
    _endpoint(conn, program, endpoint_id, lock=True)
    repository.delete_endpoint(conn, endpoint_id, now)
    subscriptions.forget(program.id)


# --------------------------------------------------------------------------- messages

def _message(row: Any) -> dict[str, Any]:
    return dict(id=row.id, webhook_id=row.webhook_id, endpoint_id=row.endpoint_id,
                event_type=row.event_type, member_id=row.member_id,
                occurred_at=row.occurred_at, state=row.state, attempts=row.attempts,
                next_attempt_at=row.next_attempt_at, delivered_at=row.delivered_at,
                last_status=row.last_status, last_error=row.last_error,
                payload=json.loads(row.payload))


def list_messages(conn: Connection, program: Program, endpoint_id: int | None, *,
                  state: str | None = None, member_id: int | None = None,
                  cursor: str | None = None, limit: int = 100
                  ) -> tuple[list[Message], str | None]:
    """Messages newest first, and the cursor of the next page."""
    if endpoint_id is not None:
        _endpoint(conn, program, endpoint_id)
    before = None
    if cursor is not None:
        before = plain_id(cursor)
        if before is None:
            raise InvalidCursor(f"{cursor!r} is not a cursor from a previous page",
                                cursor=cursor)
    rows = repository.messages_page(conn, program.id, endpoint_id, state, member_id, before,
                                    limit + 1)
    page = [Message(**_message(row)) for row in rows[:limit]]
    return page, (str(page[-1].id) if len(rows) > limit and page else None)


def get_message(conn: Connection, program: Program, message_id: int) -> MessageDetail:
    row = repository.message_row(conn, program.id, message_id)
    if row is None:
        raise MessageNotFound(f"webhook message {message_id} does not exist",
                              message_id=message_id)
    deliveries = [Attempt(attempt=a.attempt, at=a.at, outcome=a.outcome,
                          status_code=a.status_code, latency_ms=a.latency_ms, error=a.error)
                  for a in repository.attempts_of(conn, row.id)]
    return MessageDetail(**_message(row), deliveries=deliveries)


def replay_message(conn: Connection, program: Program, message_id: int,
                   now: datetime) -> MessageDetail:
    """Send a message again (delivered, dead, or waiting for its next attempt): due now,
    with a fresh set of attempts, in its place in its member's order. A message being
    sent right now is left to that attempt."""
    get_message(conn, program, message_id)
    repository.replay(conn, program.id, now, message_id=message_id)
    return get_message(conn, program, message_id)


def replay_endpoint(conn: Connection, program: Program, endpoint_id: int,
                    payload: ReplayRequest, now: datetime) -> int:
    """Replay an endpoint's messages in one state (by default the dead ones)."""
    _endpoint(conn, program, endpoint_id)
    return repository.replay(conn, program.id, now, endpoint_id=endpoint_id,
                             state=payload.state, since=payload.since)
