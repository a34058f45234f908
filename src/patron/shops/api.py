"""Shop connections (admin keys) and the webhooks shops send (signed, no API key)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from patron.api.deps import Admin, IdempotencyKey, problem_responses
from patron.api.metrics import count_ingested
from patron.api.middleware import route_label
from patron.audit.service import claim, record_success
from patron.events.schemas import EventOutcome
from patron.flows.shop_orders import DeliveryOutcome, IgnoredAction, receive
from patron.idempotency.service import run_once
from patron.program.service import get_program
from patron.schemas_common import MAX_INT, plain_id
from patron.shops import service
from patron.shops.domain import Action, Ignored
from patron.shops.schemas import ShopConnectionCreate, ShopConnectionCreated, ShopConnectionList

router = APIRouter(prefix="/shops", tags=["shops"])
ConnectionId = Annotated[int, Path(ge=1, le=MAX_INT, description="The connection's id")]


@router.post("/connections", status_code=201, response_model=ShopConnectionCreated,
             responses=problem_responses(401, 403, 409, 422))
def connect_shop(payload: ShopConnectionCreate, ctx: Admin,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Connect a Shopify or WooCommerce shop: its webhooks then go to ``webhook_path``.

    Shopify: subscribe ``orders/create``, ``orders/paid`` and ``refunds/create`` (JSON) and
    give the secret they are signed with. WooCommerce: add webhooks for *Order created* and
    *Order updated*; leave ``secret`` out and Patron generates one (answered once) to paste
    into them. 409 ``shop_already_connected`` while the shop is connected; a removed shop
    connects again under its old id. With an ``Idempotency-Key`` a retry answers the first
    result.
    """
    def work(conn, program):
        def create():
            made = service.connect(conn, program.id, payload, ctx.clock.now())
            return 201, made.model_dump(mode="json")
        return run_once(conn, program_id=program.id, key=idempotency_key,
                        operation="connect_shop", payload=payload.model_dump(mode="json"),
                        now=ctx.clock.now(), work=create)
    status, body, _ = ctx.write(work)
    return JSONResponse(body, status_code=status)


@router.get("/connections", response_model=ShopConnectionList,
            responses=problem_responses(401, 403))
def list_shops(ctx: Admin) -> ShopConnectionList:
    """The program's connected shops (never their secrets)."""
    return ShopConnectionList(items=ctx.read(
        lambda conn, program: service.list_connections(conn, program.id)))


@router.delete("/connections/{connection_id}", status_code=204,
               responses=problem_responses(401, 403, 404))
def remove_shop(connection_id: ConnectionId, ctx: Admin) -> Response:
    """Stop taking the shop's webhooks (404 from now on). What it recorded stays;
    removing it again changes nothing."""
    ctx.write(lambda conn, program: service.remove(conn, program.id, connection_id,
                                                   ctx.clock.now()))
    return Response(status_code=204)


@router.post("/{platform}/{connection_id}", response_model=DeliveryOutcome,
             responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object"}}}}})
async def shop_webhook(platform: str, connection_id: str, request: Request) -> JSONResponse:
    """A shop's webhook, as the shop sends it (Shopify, WooCommerce): authenticated by its
    HMAC-SHA256 signature with the connection's secret, not by an API key.

    200 for every delivery Patron takes: ``processed`` (an event recorded),
    ``duplicate`` (a retry, or a second topic about an order that already earned:
    nothing earns twice), ``ignored`` (a topic or an order state Patron does not act
    on, with a code saying why), ``ping`` (WooCommerce testing the URL). 401
    ``shop_signature_missing`` / ``shop_signature_invalid`` for a delivery not signed with
    the secret, 403 ``shop_domain_mismatch`` for one signed but from another shop, 404
    ``shop_connection_not_found``, 400 ``malformed_shop_payload`` for a body that is not a
    JSON object, 422 ``invalid_shop_payload`` for one missing what its topic needs, and
    ingest's own problems (``currency_mismatch``, ``return_exceeds_purchase``, …).
    """
    db = request.app.state.db
    body = await request.body()
    found = await run_in_threadpool(db.read, lambda conn: service.receiving(
        conn, platform, plain_id(connection_id)))
    delivery = found.platform.delivery(request.headers, body)
    answer = DeliveryOutcome(platform=found.platform.name, topic=delivery.topic,
                             delivery_id=delivery.delivery_id, status="ignored")
    if found.platform.is_ping(delivery):
        return _answer(answer, status="ping")
    found.platform.verify(found.shop, found.secret, delivery)
    actions = found.platform.read(found.shop, delivery)
    if all(isinstance(action, Ignored) for action in actions):  # nothing to write
        return _answer(answer, ignored=actions)
    outcomes, ignored = await run_in_threadpool(_record, request, found, actions)
    count_ingested(outcomes)
    statuses = {outcome.status for outcome in outcomes}
    return _answer(answer, events=outcomes, ignored=ignored,
                   status="processed" if "processed" in statuses
                   else "duplicate" if statuses else "ignored")


def _record(request: Request, found: service.Receiving, actions: list[Action]
            ) -> tuple[list[EventOutcome], list[Ignored]]:
    """The delivery's actions in one transaction, with its audit row (actor
    ``shop:<connection id>``) in the same one."""
    db, clock = request.app.state.db, request.app.state.clock
    actor, operation = f"shop:{found.shop.id}", f"{request.method} {route_label(request.scope)}"
    claim(actor=actor, program_id=found.program_id, operation=operation)

    def work(conn: Connection) -> tuple[tuple[list[EventOutcome], list[Ignored]], Any]:
        now = clock.now()
        done = receive(conn, get_program(conn, found.program_id), found.shop, actions,
                       now=now, actor=actor)
        members = [outcome.member_id for outcome in done[0] if outcome.member_id]
        claim(actor=actor, program_id=found.program_id, operation=operation,
              member_id=members[0] if members else None)
        return done, record_success(conn, now=now)

    done, trail = db.transact(work)
    if trail is not None:
        trail.recorded = True
    return done


def _answer(answer: DeliveryOutcome, *, status: str | None = None,
            events: list[EventOutcome] | None = None,
            ignored: Sequence[Action] = ()) -> JSONResponse:
    body = answer.model_copy(update={
        "status": status or answer.status, "events": events or [],
        "ignored": [IgnoredAction(code=i.code, message=i.message) for i in ignored
                    if isinstance(i, Ignored)]})
    return JSONResponse(body.model_dump(mode="json"))
