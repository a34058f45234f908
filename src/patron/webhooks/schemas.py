"""API payloads of webhook endpoints, messages and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from patron.schemas_common import Instant, storable

MAX_EVENT_TYPES = 50
MessageState = Literal["pending", "delivered", "dead"]


def _endpoint_url(value: str) -> str:
    """An absolute http(s) URL with a host, and nothing a request line cannot carry."""
    storable(value)
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - refuses a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise ValueError(f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


Url = Annotated[str, StringConstraints(min_length=1, max_length=2000),
                AfterValidator(_endpoint_url)]
EventTypeName = Annotated[str, StringConstraints(min_length=1, max_length=64),
                          AfterValidator(storable)]
EventTypes = Annotated[list[EventTypeName], Field(min_length=1, max_length=MAX_EVENT_TYPES,
                                                  description="Event types it takes (see "
                                                  "``GET /webhooks/event-types``)")]
Description = Annotated[str, StringConstraints(max_length=200), AfterValidator(storable)]
Secret = Annotated[str, StringConstraints(min_length=1, max_length=120),
                   AfterValidator(storable)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointCreate(_In):
    url: Url = Field(description="Where messages are POSTed")
    event_types: EventTypes
    description: Description | None = None
    enabled: bool = True
    secret: Secret | None = Field(None, description="A Standard Webhooks secret "
                                  "(``whsec_`` and 24 to 64 bytes in base64); absent: a new "
                                  "one is made")


class EndpointUpdate(_In):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = Field(None, description="A disabled endpoint gets no new messages; "
                                 "those it has wait, and go once it is enabled again")


class Endpoint(BaseModel):
    id: int
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class EndpointCreated(Endpoint):
    secret: str = Field(description="Verify each message's ``webhook-signature`` with it "
                        "(also ``GET /webhooks/endpoints/{id}/secret``)")


class EndpointSecret(BaseModel):
    secret: str


class EndpointList(BaseModel):
    items: list[Endpoint]


class EventType(BaseModel):
    name: str
    description: str


class EventTypeList(BaseModel):
    items: list[EventType]


class Attempt(BaseModel):
    attempt: int = Field(description="1 for the first attempt (counted again from 1 after "
                         "a replay)")
    at: datetime
    outcome: Literal["delivered", "failed"]
    status_code: int | None = Field(description="The endpoint's HTTP status; none when no "
                                    "answer came (refused, timed out)")
    latency_ms: int
    error: str | None


class Message(BaseModel):
    id: int
    webhook_id: str = Field(description="The ``webhook-id`` header: the same on every "
                            "attempt; receivers drop repeats by it")
    endpoint_id: int
    event_type: str
    member_id: int | None
    occurred_at: datetime
    state: MessageState
    attempts: int = Field(description="Attempts since written or last replayed")
    next_attempt_at: datetime | None = Field(description="When a pending message is tried "
                                             "again; none: as soon as a worker is free")
    delivered_at: datetime | None = Field(description="When it was delivered (cleared by a "
                                          "replay; the delivery log keeps every attempt)")
    last_status: int | None
    last_error: str | None
    payload: dict[str, Any] = Field(description="The body as sent")


class MessageDetail(Message):
    deliveries: list[Attempt] = Field(description="Every attempt, oldest first")


class MessagePage(BaseModel):
    items: list[Message]
    next_cursor: str | None = Field(None, description="Pass as ``cursor`` for older messages")


class ReplayRequest(_In):
    state: MessageState = Field("dead", description="Replay the endpoint's messages in this "
                                "state")
    since: Instant | None = Field(None, description="Only messages about things that "
                                  "happened from this instant on")


class Replayed(BaseModel):
    replayed: int = Field(description="Messages made due again (not those being sent now)")
