"""``/webhooks``: endpoints, their messages and the delivery log (admin keys)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from patron.api.deps import Admin, Context, IdempotencyKey, Reader, problem_responses
from patron.idempotency.service import run_once
from patron.schemas_common import MAX_INT
from patron.webhooks import service
from patron.webhooks.outbox import subscriptions
from patron.webhooks.schemas import (Endpoint, EndpointCreate, EndpointCreated, EndpointList,
                                     EndpointSecret, EndpointUpdate, EventTypeList,
                                     MessageDetail, MessagePage, MessageState, Replayed,
                                     ReplayRequest)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
EndpointId = Annotated[int, Path(ge=1, le=MAX_INT, description="The endpoint's id")]
MessageId = Annotated[int, Path(ge=1, le=MAX_INT, description="The message's id")]
StateQuery = Annotated[MessageState | None, Query(description="Only messages in this state")]
MemberQuery = Annotated[int | None, Query(ge=1, le=MAX_INT, description="Only this member's")]
Cursor = Annotated[str | None, Query(max_length=20)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _changed(ctx: Context) -> None:
    """After the commit: this process sees the endpoints as they now are."""
    subscriptions.forget(ctx.principal.program_id)


@router.get("/event-types", response_model=EventTypeList, responses=problem_responses(401, 403))
def list_event_types(ctx: Reader) -> EventTypeList:
    """The event types an endpoint can take."""
    return EventTypeList(items=service.event_types())


@router.post("/endpoints", status_code=201, response_model=EndpointCreated,
             responses=problem_responses(401, 403, 409, 422))
def create_endpoint(payload: EndpointCreate, ctx: Admin, response: Response,
                    idempotency_key: IdempotencyKey = None) -> EndpointCreated:
    """Subscribe a URL to event types. The answer holds the signing ``secret``
    (Standard Webhooks: each message carries ``webhook-id``, ``webhook-timestamp`` and
    ``webhook-signature``). From the commit on, every change of those types writes a
    message for it. 422 ``unknown_event_type``, ``invalid_webhook_secret``; 409
    ``too_many_webhook_endpoints``. With an ``Idempotency-Key`` a retry returns the
    first endpoint instead of making another."""
    def work(conn, program):
        def create():
            made = service.create_endpoint(conn, program, payload, ctx.clock.now())
            return 201, made.model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation="create_webhook_endpoint",
                        payload=payload.model_dump(mode="json"), now=ctx.clock.now(),
                        work=create)
    status, body, _ = ctx.write(work)
    _changed(ctx)
    response.status_code = status
    return EndpointCreated.model_validate(body)


@router.get("/endpoints", response_model=EndpointList, responses=problem_responses(401, 403))
def list_endpoints(ctx: Admin) -> EndpointList:
    """The program's endpoints (without their secrets)."""
    return EndpointList(items=ctx.read(service.list_endpoints))


@router.get("/endpoints/{endpoint_id}", response_model=Endpoint,
            responses=problem_responses(401, 403, 404))
def get_endpoint(endpoint_id: EndpointId, ctx: Admin) -> Endpoint:
    return ctx.read(lambda conn, program: service.get_endpoint(conn, program, endpoint_id))


@router.get("/endpoints/{endpoint_id}/secret", response_model=EndpointSecret,
            responses=problem_responses(401, 403, 404))
def get_secret(endpoint_id: EndpointId, ctx: Admin) -> EndpointSecret:
    """The endpoint's signing secret."""
    return EndpointSecret(secret=ctx.read(lambda conn, program: service.endpoint_secret(
        conn, program, endpoint_id)))


@router.patch("/endpoints/{endpoint_id}", response_model=Endpoint,
              responses=problem_responses(401, 403, 404, 422))
def update_endpoint(endpoint_id: EndpointId, payload: EndpointUpdate, ctx: Admin) -> Endpoint:
    """Change the URL, event types, description or whether it is enabled; only the fields
    sent change, and the same change sent again changes nothing."""
    updated = ctx.write(lambda conn, program: service.update_endpoint(
        conn, program, endpoint_id, payload, ctx.clock.now()))
    _changed(ctx)
    return updated


@router.delete("/endpoints/{endpoint_id}", status_code=204,
               responses=problem_responses(401, 403, 404))
def delete_endpoint(endpoint_id: EndpointId, ctx: Admin,
                    idempotency_key: IdempotencyKey = None) -> Response:
    """Remove the endpoint with its messages and their delivery log (to keep them and
    stop sending, disable it instead). Again: 404 ``webhook_endpoint_not_found``, unless
    it is a retry with the first request's ``Idempotency-Key``, which answers 204 again."""
    def work(conn, program):
        def delete():
            service.delete_endpoint(conn, program, endpoint_id, ctx.clock.now())
            return 204, {}
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation="delete_webhook_endpoint",
                        payload={"endpoint_id": endpoint_id}, now=ctx.clock.now(), work=delete)
    ctx.write(work)
    _changed(ctx)
    return Response(status_code=204)


@router.get("/endpoints/{endpoint_id}/messages", response_model=MessagePage,
            responses=problem_responses(401, 403, 404, 422))
def endpoint_messages(endpoint_id: EndpointId, ctx: Admin, state: StateQuery = None,
                      member_id: MemberQuery = None, cursor: Cursor = None,
                      limit: Limit = 100) -> MessagePage:
    """The endpoint's messages, newest first."""
    items, following = ctx.read(lambda conn, program: service.list_messages(
        conn, program, endpoint_id, state=state, member_id=member_id, cursor=cursor,
        limit=limit))
    return MessagePage(items=items, next_cursor=following)


@router.post("/endpoints/{endpoint_id}/replay", response_model=Replayed,
             responses=problem_responses(401, 403, 404, 409, 422))
def replay_endpoint(endpoint_id: EndpointId, payload: ReplayRequest, ctx: Admin,
                    idempotency_key: IdempotencyKey = None) -> Replayed:
    """Send the endpoint's messages in a state again (by default the ``dead`` ones, e.g.
    after fixing the receiver), each in its place in its member's order."""
    def work(conn, program):
        def replay():
            count = service.replay_endpoint(conn, program, endpoint_id, payload,
                                            ctx.clock.now())
            return 200, {"replayed": count}
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation="replay_webhook_endpoint",
                        payload={"endpoint_id": endpoint_id,
                                 **payload.model_dump(mode="json")},
                        now=ctx.clock.now(), work=replay)
    _, body, _ = ctx.write(work)
    return Replayed.model_validate(body)


@router.get("/messages", response_model=MessagePage,
            responses=problem_responses(401, 403, 422))
def list_messages(ctx: Admin, state: StateQuery = None, member_id: MemberQuery = None,
                  cursor: Cursor = None, limit: Limit = 100) -> MessagePage:
    """Messages to every endpoint, newest first."""
    items, following = ctx.read(lambda conn, program: service.list_messages(
        conn, program, None, state=state, member_id=member_id, cursor=cursor, limit=limit))
    return MessagePage(items=items, next_cursor=following)


@router.get("/messages/{message_id}", response_model=MessageDetail,
            responses=problem_responses(401, 403, 404))
def get_message(message_id: MessageId, ctx: Admin) -> MessageDetail:
    """A message with its delivery log: every attempt's time, status, latency and error."""
    return ctx.read(lambda conn, program: service.get_message(conn, program, message_id))


@router.post("/messages/{message_id}/replay", response_model=MessageDetail,
             responses=problem_responses(401, 403, 404))
def replay_message(message_id: MessageId, ctx: Admin) -> MessageDetail:
    """Send the message again now, with a fresh set of attempts and the same
    ``webhook-id``, in its place in its member's order (a message being sent at this
    moment is left to that attempt). A retry before it is sent changes nothing more."""
    return ctx.write(lambda conn, program: service.replay_message(
        conn, program, message_id, ctx.clock.now()))
