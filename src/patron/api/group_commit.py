"""Single events that arrive together share one transaction (group commit).

``POST /events`` takes one event per request, and a busy shop sends many at once.
Each would be one transaction: a commit (a flush to disk) and the earning reads of one
member. When requests of the same API key arrive while such a transaction runs, they
wait for it and then go into the database together, as one batch through
:func:`patron.flows.ingest.ingest`, which reads and writes a batch in a few statements
and answers every event on its own (one event's refusal is its own answer, not the
batch's). Nothing waits on a timer: a request that finds no transaction of its key
running starts its own at once, alone, in its own request (no task, no hand-over
between the event loop and a drain: a lone client pays nothing for grouping); only the
requests that queued behind a running one are grouped. Each request still gets its own outcome, its
own audit row (written in the shared transaction, with its own request id) and its own
metrics.

If a shared transaction fails as a whole (any error: a subscriber refusing the change,
the database giving up), nothing of it was committed and every event in it runs
again alone, in its own request, so each answers exactly as it would have alone.

Grouping is per process (``--workers N`` each group their own requests) and per API
key, so one key's revocation or role never decides another key's events.
``PATRON_GROUP_COMMIT_MAX`` sets the largest group (1 turns grouping off).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from patron.api.deps import Context
from patron.api.metrics import EVENT_GROUPS
from patron.audit.service import TRAIL, Trail, record
from patron.events.schemas import EventIn, EventOutcome
from patron.logs import REQUEST_ID

Key = tuple[int, int | None, str]
log = logging.getLogger("patron.api")


@dataclass(eq=False)
class _Waiting:
    ctx: Context
    event: EventIn
    trail: Trail | None
    request_id: str | None
    answer: asyncio.Future[EventOutcome | None]
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when an event sent back to run alone has run: the group waits for it."""


class GroupCommit:
    """Groups ``POST /events`` requests of one key that wait behind a running one."""

    def __init__(self, ingest: Callable[..., list[EventOutcome]], largest: int = 100) -> None:
        self._ingest = ingest
        self.largest = max(1, largest)
        self._waiting: dict[Key, list[_Waiting]] = {}
        self._running: set[Key] = set()
        self.groups = 0
        """Shared transactions committed (for tests and benchmarks)."""

    async def send(self, ctx: Context, event: EventIn,
                   alone: Callable[[], Awaitable[EventOutcome]]) -> EventOutcome:
        """The event's outcome; ``alone()`` runs it in its own transaction when it is
        not grouped."""
        if self.largest == 1:
            return await alone()
        principal = ctx.principal
        key = (principal.program_id, principal.key_id, principal.actor)
        if key not in self._running:  # nothing of the key is being written: at once
            self._running.add(key)
            EVENT_GROUPS.observe(1)
            try:
                return await alone()
            finally:
                self._release(key)
        waiting = _Waiting(ctx, event, TRAIL.get(), REQUEST_ID.get(),
                           asyncio.get_running_loop().create_future())
        self._waiting.setdefault(key, []).append(waiting)
        try:
            outcome = await waiting.answer
            return outcome if outcome is not None else await alone()
        finally:
            waiting.finished.set()  # the group waits for an event it sent back alone

    def _release(self, key: Key) -> None:
        """A lone request of ``key`` is written: those that queued behind it go next."""
        if self._waiting.get(key):
            asyncio.get_running_loop().create_task(self._drain(key))  # the key stays running
        else:
            self._waiting.pop(key, None)
            self._running.discard(key)

    async def _drain(self, key: Key) -> None:
        """Run the key's waiting events until none wait: one alone, more together."""
        group: list[_Waiting] = []
        try:
            while queue := self._waiting.get(key):
                group, queue[:] = queue[:self.largest], queue[self.largest:]
                outcomes = await self._run(group) if len(group) > 1 else None
                if outcomes is None:  # each runs in its own request, one after another
                    if len(group) == 1:
                        EVENT_GROUPS.observe(1)
                    for waiting in group:
                        _answer(waiting, None)
                    await asyncio.gather(*(w.finished.wait() for w in group))
                    continue
                self.groups += 1
                EVENT_GROUPS.observe(len(group))
                for waiting, outcome in zip(group, outcomes, strict=True):
                    if waiting.trail is not None:
                        waiting.trail.recorded = True
                    _answer(waiting, outcome)
        finally:
            for waiting in group + self._waiting.pop(key, []):
                _answer(waiting, None)  # after a failure here: nobody is left waiting
            self._running.discard(key)

    async def _run(self, group: list[_Waiting]) -> list[EventOutcome] | None:
        """The group in one transaction; None when it failed as a whole (rolled back)."""
        try:
            return await run_in_threadpool(self._together, group)
        except Exception:  # noqa: BLE001 - each event then answers on its own
            log.info("a group of %d events failed together; each runs alone", len(group),
                     exc_info=True)
            return None

    def _together(self, group: list[_Waiting]) -> list[EventOutcome]:
        # a key from the few-second cache has its revocation checked by the program read
        first = next((w.ctx for w in group if not w.ctx.key_checked), group[0].ctx)

        def work(conn: Connection) -> list[EventOutcome]:
            now = first.clock.now()
            outcomes = self._ingest(conn, first.program_for(conn), [w.event for w in group],
                                    now=now, actor=first.principal.actor)
            for waiting in group:
                _audit(conn, waiting, now)
            return outcomes

        return first.db.transact(work)


def _answer(waiting: _Waiting, outcome: EventOutcome | None) -> None:
    if not waiting.answer.done():  # a request that went away no longer waits
        waiting.answer.set_result(outcome)


def _audit(conn: Connection, waiting: _Waiting, now: datetime) -> None:
    """The request's ``succeeded`` audit row, with its own request id."""
    trail = waiting.trail
    if trail is None or trail.actor is None or trail.recorded:
        return
    token = REQUEST_ID.set(waiting.request_id)
    try:
        record(conn, trail, now=now, outcome="succeeded")
    finally:
        REQUEST_ID.reset(token)
