from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from patron.api.deps import Writer, problem_responses
from patron.api.metrics import count_ingested
from patron.logs import REQUEST_ID
from patron.flows.ingest import ingest
from patron.events.schemas import BatchOutcome, EventBatch, EventIn, EventOutcome

router = APIRouter(prefix="/events", tags=["events"])


@router.post("", response_model=EventOutcome, status_code=201,
             responses={200: {"model": EventOutcome, "description": "Already processed"},
                        **problem_responses(401, 403, 404, 409, 422)})
async def post_event(event: EventIn, ctx: Writer, request: Request):
    """Send one event (purchase, sign_up, review, …).

    ``id`` is the idempotency key: sending the same event again returns its
    first outcome with status ``duplicate`` (200) and writes nothing, also while
    the first send is still in flight. The same ``id`` with another event (member,
    ``occurred_at``, ``channel``, ``type`` or ``data`` differ) is 409
    ``idempotency_key_reused``.

    Events of one API key that arrive while another of its events is being written
    are written together, in one transaction, each with its own answer (see
    ``patron.api.group_commit``).
    """
    def alone() -> list[EventOutcome]:
        return ctx.write(lambda conn, program: ingest(
            conn, program, [event], now=ctx.clock.now(), actor=ctx.principal.actor))

    async def run_alone() -> EventOutcome:
        return (await run_in_threadpool(alone))[0]

    outcome = await request.app.state.group_commit.send(ctx, event, run_alone)
    count_ingested([outcome])
    if outcome.status == "rejected":
        problem = {**(outcome.error or {}), "request_id": REQUEST_ID.get()}
        return JSONResponse(problem, status_code=problem.get("status", 422),
                            media_type="application/problem+json")
    return JSONResponse(outcome.model_dump(mode="json"),
                        status_code=201 if outcome.status == "processed" else 200)


@router.post("/batch", response_model=BatchOutcome,
             responses=problem_responses(401, 403, 422))
def post_batch(batch: EventBatch, ctx: Writer) -> BatchOutcome:
    """Send up to 1,000 events in one transaction; each gets its own outcome.

    Events that cannot be processed are reported as ``rejected`` with a problem
    and are not recorded; the others are. Re-sending the batch changes nothing. An
    event whose ``id`` was used for another event is rejected with 409
    ``idempotency_key_reused``.
    """
    results = ctx.write(lambda conn, program: ingest(
        conn, program, batch.events, now=ctx.clock.now(), actor=ctx.principal.actor))
    count_ingested(results)
    count = {s: sum(1 for r in results if r.status == s)
             for s in ("processed", "duplicate", "rejected")}
    return BatchOutcome(processed=count["processed"], duplicates=count["duplicate"],
                        rejected=count["rejected"], results=results)
